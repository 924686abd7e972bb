"""Plain details a question mentions: products, plans, devices, error codes, amounts, hosts, key shapes."""

PRODUCTS = [
    "CloudVault Backup",
    "NetLink Router X2",
    "PayDesk POS Terminal",
    "Insight Analytics",
    "TeamSync",
    "SecureID Authenticator",
    "ShipTrack Pro",
    "LedgerLite Accounting",
    "VoiceHub Phone System",
    "SmartHome Thermostat T3",
    "DataBridge Connector",
    "HelpFlow Service Desk",
]

PLANS = ["Starter", "Business", "Enterprise", "Pro Annual", "Team Monthly", "Premium"]

DEVICES = [
    "iPhone 15",
    "Samsung Galaxy S23",
    "Pixel 8",
    "MacBook Air",
    "Dell Latitude 7440",
    "iPad Pro",
    "ThinkPad X1 Carbon",
    "Surface Pro 9",
    "Windows 11 desktop",
    "Chromebook",
]

BROWSERS = ["Chrome 131", "Firefox 133", "Safari 18", "Edge 131"]

ERROR_CODES = [
    "ERR_CONN_RESET",
    "E-4012",
    "HTTP 502",
    "0x80070005",
    "SSL_ERROR_BAD_CERT_DOMAIN",
    "TIMEOUT-2291",
    "AUTH_403",
    "DB-LOCK-17",
    "PAY-DECLINED-05",
    "SYNC-409",
    "HTTP 429",
    "E_QUOTA_EXCEEDED",
]

CARRIERS = ["DHL", "UPS", "FedEx", "Royal Mail", "La Poste", "Correos", "USPS", "DPD"]

CURRENCY = {"en_US": "$", "en_GB": "£", "de_DE": "€", "fr_FR": "€", "es_ES": "€"}

HOST_ROLES = ["db-prod", "api-gw", "k8s-node", "redis-cache", "auth", "etl-worker", "vpn", "mail-relay", "sftp"]

API_KEY_PREFIXES = ["sk_live_", "AKIA", "ghp_", "xoxb-"]

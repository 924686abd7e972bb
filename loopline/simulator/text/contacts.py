"""What makes a person reachable: phone formats per locale, free-mail domains, companies, job titles."""

PHONE_FORMATS = {  # '#' any digit, 'N' 2-9: international and local styles per locale
    "en_US": ["+1 N## ### ####", "(N##) ###-####", "N##-###-####", "+1 (N##) ###-####"],
    "en_GB": ["+44 20 #### ####", "020 #### ####", "07### ######", "+44 7### ######"],
    "de_DE": ["+49 30 ########", "030 ########", "+49 15# ########", "0171 #######"],
    "fr_FR": ["+33 1 ## ## ## ##", "01 ## ## ## ##", "06 ## ## ## ##", "+33 6 ## ## ## ##"],
    "es_ES": ["+34 91# ### ###", "91# ### ###", "+34 6## ## ## ##", "6## ### ###"],
}

SUPPORT_PHONE = "+1 800 555 0###"

FREE_MAIL = {
    "en_US": ["gmail.com", "yahoo.com", "outlook.com", "icloud.com", "aol.com"],
    "en_GB": ["gmail.com", "btinternet.com", "outlook.com", "yahoo.co.uk", "hotmail.co.uk"],
    "de_DE": ["gmx.de", "web.de", "t-online.de", "gmail.com"],
    "fr_FR": ["orange.fr", "free.fr", "laposte.net", "gmail.com"],
    "es_ES": ["gmail.com", "hotmail.es", "yahoo.es", "telefonica.net"],
}

COMPANIES = [
    "Brightwave Ltd",
    "Nordlicht GmbH",
    "Atelier Rivière SARL",
    "Soluciones Iberia S.L.",
    "Harbor & Pine LLC",
    "Kestrel Logistics",
    "Meridian Health Partners",
    "Bluefield Retail Group",
    "Quantix Analytics",
    "Oakridge Legal LLP",
    "Stellar Print Co.",
    "Vinculum Consulting",
    "Greenleaf Organics",
    "Polaris Engineering AG",
    "Cobalt Creative Studio",
]

TITLES = [
    "Office Manager",
    "Head of Finance",
    "IT Administrator",
    "Procurement Lead",
    "Operations Manager",
    "Senior Accountant",
    "Managing Director",
    "Project Coordinator",
    "Systems Engineer",
    "Owner",
    "Purchasing Assistant",
    "Chief Technology Officer",
    "Facilities Coordinator",
]

AGENT_TITLES = [
    "Customer Support Specialist",
    "Technical Support Engineer",
    "Billing Specialist",
    "Customer Success Manager",
    "Support Team Lead",
]

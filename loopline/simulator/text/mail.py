"""How mail clients write: subjects, sign-offs, footers, disclaimers, auto-replies, quote headers and
HTML skeletons per client (Gmail, Outlook, Apple Mail, Thunderbird, Yahoo)."""

SUBJECTS = {
    "billing": [
        "Double charge on my card",
        "Question about invoice {order}",
        "Refund still not received",
        "Wrong amount on latest invoice",
        "Cancel subscription and refund",
        "VAT on our invoices",
        "Payment declined",
        "Unknown charge from your company",
    ],
    "technical": [
        "{error} when syncing",
        "App crashes on start",
        "API requests failing since yesterday",
        "Dashboard not loading",
        "Export produces empty file",
        "Webhooks stopped working",
        "Urgent: production issue",
        "Problem after update to {version}",
    ],
    "account": [
        "Cannot log in",
        "Change email address",
        "Suspicious login on my account",
        "Delete my account",
        "Transfer workspace ownership",
        "2FA phone number changed",
        "Merge two accounts",
        "Data access request",
    ],
    "shipping": [
        "Where is my order {order}?",
        "Parcel marked delivered but not received",
        "Damaged delivery",
        "Wrong item received",
        "Change delivery address",
        "Return label not working",
        "Customs fees on delivery",
        "Order {order} cancelled?",
    ],
    "other": [
        "Education discount?",
        "Security documents request",
        "Feature suggestion",
        "Complaint",
        "Partner programme",
        "Customer confirmation letter",
        "Data center locations",
        "Demo request",
    ],
}

# How an email follow-up opens, by which side took long to write (a reply can wait hours or days).
FOLLOWUP_THANKS = {
    "quick": ["Thanks for the quick reply."],
    "slow_answer": ["Thanks for getting back to me.", "Thanks for your reply."],
    "slow_customer": ["Sorry for the late reply, I was travelling.", "Apologies for the delay on my side."],
}

REPLY_PREFIX = {"en": "Re: ", "de": "AW: ", "fr": "RE : ", "es": "RE: ", "ru": "Re: "}

OUTLOOK_REPLY_PREFIX = "RE: "

MESSAGE_ID_DOMAINS = {
    "gmail": "mail.gmail.com",
    "outlook": "EUR03.prod.outlook.com",
    "apple": "icloud.com",
    "yahoo": "mail.yahoo.com",
    "thunderbird": "thunderbird.local",
}

SIGNOFFS = {
    "en": ["Best regards,", "Kind regards,", "Thanks,", "Cheers,", "Regards,", "Best,", "Many thanks,"],
    "de": ["Mit freundlichen Grüßen", "Viele Grüße", "Beste Grüße", "Gruß"],
    "fr": ["Cordialement,", "Bien à vous,", "Merci d'avance,", "Bonne journée,"],
    "es": ["Saludos,", "Un saludo,", "Atentamente,", "Gracias,"],
}

MOBILE_FOOTERS = {
    "en": [
        "Sent from my iPhone",
        "Get Outlook for Android",
        "Sent from my Galaxy",
        "Sent from Yahoo Mail for iPhone",
        "Sent from my iPad",
    ],
    "de": ["Von meinem iPhone gesendet", "Outlook für Android herunterladen"],
    "fr": ["Envoyé de mon iPhone", "Obtenir Outlook pour Android"],
    "es": ["Enviado desde mi iPhone", "Obtener Outlook para Android"],
}

DISCLAIMERS = [
    "CONFIDENTIALITY NOTICE: This e-mail and any attachments are confidential and may be legally privileged. "
    "If you are not the intended recipient, please notify the sender immediately and delete this message. "
    "Any unauthorised use, disclosure or copying is strictly prohibited.",
    "This message contains information which may be confidential and privileged. Unless you are the addressee "
    "(or authorized to receive for the addressee), you may not use, copy or disclose to anyone the message or "
    "any information contained in the message.",
    "Please consider the environment before printing this e-mail.",
    "Diese E-Mail enthält vertrauliche und/oder rechtlich geschützte Informationen. Wenn Sie nicht der richtige "
    "Adressat sind oder diese E-Mail irrtümlich erhalten haben, informieren Sie bitte sofort den Absender und "
    "vernichten Sie diese Mail.",
    "Ce message et toutes les pièces jointes sont confidentiels et établis à l'intention exclusive de ses "
    "destinataires. Toute utilisation non conforme à sa destination est interdite.",
    "Registered office: 1 Canal Street, Manchester. Registered in England and Wales, company number 08123456. "
    "VAT registration number GB 123 4567 89.",
]

AUTO_ACKS = [
    "Thank you for contacting us, we have received your message. A member of our support team will get back "
    "to you within 24 hours. Your case reference is {ref}.",
    "This is an automatic confirmation that your request has been received and assigned the number {ref}. "
    "Please do not reply to this email.",
    "Thanks for reaching out! We have received your email and will respond as soon as possible. Our support "
    "hours are Monday to Friday, 8am to 6pm.",
]

AUTO_ACK_SUBJECTS = ["[Case {ref}] {subject}", "We received your request: {subject}", "Re: {subject} [{ref}]"]

OUT_OF_OFFICE = {
    "en": [
        "I am out of the office until {date} with limited access to email. For urgent matters please contact "
        "my colleague at the office.",
        "Thank you for your email. I am currently on leave and will reply when I am back on {date}.",
    ],
    "de": [
        "Vielen Dank für Ihre Nachricht. Ich bin bis einschließlich {date} nicht im Büro und habe keinen "
        "Zugriff auf meine E-Mails."
    ],
    "fr": ["Je suis absent(e) du bureau jusqu'au {date}. Je répondrai à votre message dès mon retour."],
    "es": ["Estoy fuera de la oficina hasta el {date}. Responderé a su mensaje a mi regreso."],
}

OOO_SUBJECT_PREFIX = {
    "en": "Automatic reply: ",
    "de": "Abwesenheitsnotiz: ",
    "fr": "Réponse automatique : ",
    "es": "Respuesta automática: ",
}

# Quote headers a mail client writes above the quoted previous message, by client and UI language.
# Fields come from strings.time_fields plus {name} {email}.
QUOTE_HEADERS = {
    ("gmail", "en"): "On {wd3}, {mon3} {day}, {year} at {h12}:{mm} {ampm} {name} <{email}> wrote:",
    ("apple", "en"): "On {mon3} {day}, {year}, at {hh}:{mm}, {name} <{email}> wrote:",
    ("thunderbird", "en"): "On {dd}/{mo}/{year} {hh}:{mm}, {name} wrote:",
    ("yahoo", "en"): "On {wdfull}, {monfull} {day}, {year}, {h12}:{mm}:{ss} {ampm} UTC, {name} <{email}> wrote:",
    "de": "Am {dd}.{mo}.{year} um {hh}:{mm} schrieb {name} <{email}>:",
    "fr": "Le {wd_fr} {day} {mon_fr} {year} à {hh}:{mm}, {name} <{email}> a écrit :",
    "es": "El {wd_es}, {day} {mon_es} {year} a las {hh}:{mm}, {name} (<{email}>) escribió:",
    "ru": '{dd}.{mo}.{year}, {hh}:{mm}, "{name}" <{email}> написал(а):',
}

OUTLOOK_HEADERS = {
    "en": ("From: {name} <{email}>\nSent: {wdfull}, {monfull} {day}, {year} {h12}:{mm} {ampm}\nTo: {to}\nSubject: {subject}"),
    "de": "Von: {name} <{email}>\nGesendet: {wd_de}, {day}. {mon_de} {year} {hh}:{mm}\nAn: {to}\nBetreff: {subject}",
}

OUTLOOK_SEPARATORS = ["-----Original Message-----", "________________________________"]

MONTHS = {
    "en": [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
    "de": ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober", "November", "Dezember"],
    "fr": ["janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.", "déc."],
    "es": ["ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sept", "oct", "nov", "dic"],
}

WEEKDAYS = {
    "en": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
    "de": ["Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"],
    "fr": ["lun.", "mar.", "mer.", "jeu.", "ven.", "sam.", "dim."],
    "es": ["lun", "mar", "mié", "jue", "vie", "sáb", "dom"],
}

# HTML skeletons per mail client. {content} holds rendered blocks, {signature} the signature block,
# {quote} the quoted previous message; all three are already HTML.
HTML_DOCS = {
    "gmail": '<div dir="ltr">{content}{signature}</div>{quote}',
    "outlook": (
        '<html xmlns:o="urn:schemas-microsoft-com:office:office"><head><meta http-equiv="Content-Type" '
        'content="text/html; charset=utf-8"><style><!-- p.MsoNormal {{margin:0cm;font-size:11.0pt;'
        'font-family:"Calibri",sans-serif;}} --></style></head><body lang="EN-US" link="#0563C1">'
        '<div class="WordSection1">{content}{signature}{quote}</div></body></html>'
    ),
    "apple": (
        '<html><head><meta http-equiv="content-type" content="text/html; charset=utf-8"></head>'
        '<body style="overflow-wrap: break-word; -webkit-nbsp-mode: space; line-break: after-white-space;">'
        "{content}{signature}{quote}</body></html>"
    ),
    "yahoo": (
        '<html><head></head><body><div class="ydp6c1f2a3byahoo-style-wrap" style="font-family:Helvetica '
        'Neue, Helvetica, Arial, sans-serif;font-size:13px;">{content}{signature}</div>{quote}</body></html>'
    ),
    "thunderbird": (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=UTF-8"></head>'
        "<body>{content}{signature}{quote}</body></html>"
    ),
}

HTML_BLOCK = {
    "gmail": "<div>{p}</div><div><br></div>",
    "outlook": '<p class="MsoNormal">{p}<o:p></o:p></p><p class="MsoNormal"><o:p>&nbsp;</o:p></p>',
    "apple": "<div>{p}</div><div><br></div>",
    "yahoo": '<div dir="ltr" data-setdir="false">{p}</div><div dir="ltr" data-setdir="false"><br></div>',
    "thunderbird": "<p>{p}</p>",
}

HTML_SIGNATURE = {
    "gmail": (
        '<span class="gmail_signature_prefix">-- </span><br><div dir="ltr" class="gmail_signature" '
        'data-smartmail="gmail_signature"><div dir="ltr">{lines}</div></div>'
    ),
    "outlook": '<p class="MsoNormal"><span style="font-size:10.0pt;color:#1F3864">{lines}</span><o:p></o:p></p>',
    "apple": '<div><span style="color: rgb(0, 0, 0);">{lines}</span></div>',
    "yahoo": '<div class="signature">{lines}</div>',
    "thunderbird": '<div class="moz-signature">-- <br>{lines}</div>',
}

HTML_DISCLAIMER = '<p style="font-size:8pt;color:#888888;font-family:Arial,sans-serif">{text}</p>'

HTML_QUOTE = {
    "gmail": (
        '<br><div class="gmail_quote gmail_quote_container"><div dir="ltr" class="gmail_attr">{header}<br>'
        '</div><blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex;border-left:1px solid '
        'rgb(204,204,204);padding-left:1ex">{quoted}</blockquote></div>'
    ),
    "outlook": (
        '<div id="appendonsend"></div><hr style="display:inline-block;width:98%" tabindex="-1">'
        '<div id="divRplyFwdMsg" dir="ltr"><font face="Calibri, sans-serif" style="font-size:11pt" '
        'color="#000000">{header}</font><div>&nbsp;</div></div>{quoted}'
    ),
    "apple": (
        '<div><br><blockquote type="cite"><div>{header}</div><br class="Apple-interchange-newline">'
        "<div>{quoted}</div></blockquote></div>"
    ),
    "yahoo": (
        '<div id="yahoo_quoted_4821" class="yahoo_quoted"><div style="font-family:&quot;Helvetica Neue&quot;, '
        'Helvetica, Arial, sans-serif;font-size:13px;color:#26282a;"><div>{header}</div><div><br></div>'
        '<blockquote style="margin:0 0 0 .8ex;border-left:1px #ccc solid;padding-left:1ex">{quoted}'
        "</blockquote></div></div>"
    ),
    "thunderbird": (
        '<div class="moz-cite-prefix">{header}<br></div><blockquote type="cite" cite="mid:{mid}">{quoted}</blockquote>'
    ),
}

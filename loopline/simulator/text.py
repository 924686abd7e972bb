"""Text pools for the traffic simulator: sentences, email-client quote styles, signatures, disclaimers.

Data only; generate.py holds the logic. Sentence templates use str.format slots that generate.py
fills per message:
  persona PII:  {name} {first_name} {email} {phone} {address} {card} {iban} {ssn} {ip} {account} {order}
  other PII:    {hostname} {api_key}
  plain detail: {product} {plan} {amount} {amount2} {date} {error} {device} {browser} {carrier}
                {tracking} {count} {version}
  agent side:   {agent_first} {ref} {days} {kb}
Pools are large and sentences long on purpose: two independently composed questions of one task
must share few word 5-shingles, so near-duplicate detection has a clear signal to find.
"""

TASKS = ("billing", "technical", "account", "shipping", "other")

# --------------------------------------------------------------------------- slot values

PRODUCTS = [
    "CloudVault Backup", "NetLink Router X2", "PayDesk POS Terminal", "Insight Analytics", "TeamSync",
    "SecureID Authenticator", "ShipTrack Pro", "LedgerLite Accounting", "VoiceHub Phone System",
    "SmartHome Thermostat T3", "DataBridge Connector", "HelpFlow Service Desk",
]
PLANS = ["Starter", "Business", "Enterprise", "Pro Annual", "Team Monthly", "Premium"]
DEVICES = [
    "iPhone 15", "Samsung Galaxy S23", "Pixel 8", "MacBook Air", "Dell Latitude 7440", "iPad Pro",
    "ThinkPad X1 Carbon", "Surface Pro 9", "Windows 11 desktop", "Chromebook",
]
BROWSERS = ["Chrome 131", "Firefox 133", "Safari 18", "Edge 131"]
ERROR_CODES = [
    "ERR_CONN_RESET", "E-4012", "HTTP 502", "0x80070005", "SSL_ERROR_BAD_CERT_DOMAIN", "TIMEOUT-2291",
    "AUTH_403", "DB-LOCK-17", "PAY-DECLINED-05", "SYNC-409", "HTTP 429", "E_QUOTA_EXCEEDED",
]
CARRIERS = ["DHL", "UPS", "FedEx", "Royal Mail", "La Poste", "Correos", "USPS", "DPD"]
CURRENCY = {"en_US": "$", "en_GB": "£", "de_DE": "€", "fr_FR": "€", "es_ES": "€"}
PHONE_FORMATS = {  # '#' any digit, 'N' 2-9: international and local styles per locale
    "en_US": ["+1 N## ### ####", "(N##) ###-####", "N##-###-####", "+1 (N##) ###-####"],
    "en_GB": ["+44 20 #### ####", "020 #### ####", "07### ######", "+44 7### ######"],
    "de_DE": ["+49 30 ########", "030 ########", "+49 15# ########", "0171 #######"],
    "fr_FR": ["+33 1 ## ## ## ##", "01 ## ## ## ##", "06 ## ## ## ##", "+33 6 ## ## ## ##"],
    "es_ES": ["+34 91# ### ###", "91# ### ###", "+34 6## ## ## ##", "6## ### ###"],
}
SUPPORT_PHONE = "+1 800 555 0###"
AGENT_TITLES = ["Customer Support Specialist", "Technical Support Engineer", "Billing Specialist",
                "Customer Success Manager", "Support Team Lead"]
MESSAGE_ID_DOMAINS = {"gmail": "mail.gmail.com", "outlook": "EUR03.prod.outlook.com", "apple": "icloud.com",
                      "yahoo": "mail.yahoo.com", "thunderbird": "thunderbird.local"}
HOST_ROLES = ["db-prod", "api-gw", "k8s-node", "redis-cache", "auth", "etl-worker", "vpn", "mail-relay", "sftp"]
API_KEY_PREFIXES = ["sk_live_", "AKIA", "ghp_", "xoxb-"]

# --------------------------------------------------------------------------- customer questions

GREETINGS = [
    "Hi,", "Hello,", "Hi there,", "Hello team,", "Dear Support,", "Good morning,", "Hey,",
    "Dear Sir or Madam,", "Hi support team,", "Good afternoon,", "Hello support,", "Greetings,",
]

CONTEXT = {
    "billing": [
        "We have been paying for the {plan} plan of {product} for about two years now.",
        "I handle the invoices for our team and usually reconcile them at the end of each month.",
        "Our finance department asked me to look into last month's statement before we close the books.",
        "I upgraded our subscription a few weeks ago after the sales call with your colleague.",
        "We switched from monthly to annual billing at the start of this quarter.",
        "I am the account owner and the only person who is allowed to change payment details.",
        "Our company moved to a new bank recently, so some of our payment details have changed.",
        "I was reviewing my bank statement this morning and something did not look right.",
        "We are a small nonprofit and keep a very close eye on every software expense.",
        "Since the price change announced in your newsletter I have been confused about our charges.",
    ],
    "technical": [
        "Our operations team has been running {product} in production since last spring without trouble.",
        "I am the administrator for our office and look after roughly forty users on {product}.",
        "We rolled out version {version} of the client to all machines during the maintenance window on {date}.",
        "I am testing the integration between {product} and our internal tools before a wider rollout.",
        "Everything worked perfectly until the update that was pushed out earlier this week.",
        "I work on the platform team and we depend on your service for our nightly jobs.",
        "This is happening on my {device} using {browser}, and a colleague sees the same thing.",
        "We migrated our servers to a new data center over the weekend.",
        "I followed the setup guide from your documentation step by step, twice.",
        "Our developers built a small script against your API to automate the weekly export.",
    ],
    "account": [
        "I have had an account with you since 2019 and never had a problem logging in before.",
        "I recently changed jobs and need to update the details attached to my profile.",
        "My colleague left the company last month and we need to take over the workspace she created.",
        "I am helping my elderly father manage his account because he is not comfortable with computers.",
        "We are consolidating several user accounts into one company workspace.",
        "I got a new phone over the holidays and moved all my apps across.",
        "I was locked out after trying my password a few times on the new laptop.",
        "Our security team asked every employee to review their account settings this week.",
        "I am getting ready to close down my small business at the end of the year.",
        "Following a data protection review, our legal team asked me to check what you store about us.",
    ],
    "shipping": [
        "I placed an order on your web shop on {date} and paid for express delivery.",
        "We ordered {count} units of the {product} for our new office opening next week.",
        "This was supposed to be a birthday present, so the timing really matters.",
        "I bought a replacement part after the original one broke during installation.",
        "Our warehouse team is waiting on this delivery before they can finish the setup.",
        "I have ordered from you several times before and delivery was always quick.",
        "The order confirmation said it would arrive within three business days.",
        "I moved house recently and I am worried the parcel went to the old address.",
        "We are a retailer and resell your products in our two shops.",
        "I returned an item last month following the instructions on your returns page.",
    ],
    "other": [
        "I run a small design agency and we have used your tools for a while.",
        "I saw your booth at the trade fair last month and picked up a brochure.",
        "I am writing a report for my manager comparing several vendors.",
        "A friend recommended your service and I have a few questions before signing up.",
        "Our procurement team asked me to collect some documents from our suppliers.",
        "I am a journalist working on a piece about customer service in the software industry.",
        "We are planning to expand to two more countries next year.",
        "I am a student and would like to use your product for my thesis project.",
        "Our school is looking for a tool like yours for about two hundred pupils.",
        "I have been a happy customer for years and wanted to share some thoughts.",
    ],
}

PROBLEMS = {
    "billing": [
        "I was charged twice for the same invoice this month and only one of the payments is shown in the portal.",
        "The amount on the latest invoice is much higher than what we agreed when we signed the contract.",
        "My refund was promised more than two weeks ago but nothing has arrived in my account so far.",
        "I cancelled my subscription before the renewal date but the full year was billed anyway.",
        "The invoice is addressed to the wrong company name, so our accounts team refuses to pay it.",
        "VAT has been added to our invoices although we provided a valid VAT number during checkout.",
        "The payment keeps failing with a declined message even though the card works everywhere else.",
        "I cannot download any invoices older than three months from the billing page.",
        "We were billed for twelve seats although only seven people in our team actually use the product.",
        "The promotional discount from the spring campaign was not applied to our renewal.",
        "A charge from your company appeared on my statement and I have no idea what it is for.",
        "The currency on our invoice suddenly switched and the exchange rate looks wrong to me.",
        "Our purchase order number is missing from the invoice, which blocks the payment on our side.",
        "I was charged a late fee although the direct debit was collected on time.",
        "The trial was supposed to be free but my card was charged the moment it ended.",
        "Every invoice we get lists an old postal address that we stopped using last year.",
    ],
    "technical": [
        "The application crashes immediately after the splash screen and shows error {error}.",
        "Since this morning the sync between the desktop client and the server simply stops halfway.",
        "Our API calls are rejected with {error} although the key has not changed in months.",
        "Reports that used to load in a few seconds now take several minutes or time out completely.",
        "The export to CSV produces an empty file whenever the date range is longer than a month.",
        "Users are randomly logged out every few minutes while they are in the middle of their work.",
        "The web dashboard shows a blank white page after I sign in on {browser}.",
        "Notifications are not being delivered to anyone on the team since the last update.",
        "The connection to your server drops every evening at almost exactly the same time.",
        "File uploads larger than about twenty megabytes fail without any message at all.",
        "The device keeps rebooting on its own and the status light blinks orange.",
        "Webhooks stopped firing for new events, so our downstream systems are missing data.",
        "The search feature returns results from other projects that we should not be able to see.",
        "Printing receipts from the terminal produces garbled characters instead of the item names.",
        "Two-factor codes from the authenticator are rejected as invalid about half of the time.",
        "The scheduled backup job reports success but the archive it creates cannot be restored.",
    ],
    "account": [
        "I cannot log in anymore because the password reset email never reaches my inbox.",
        "I would like to change the email address on my account but the settings page will not save it.",
        "Someone seems to have accessed my account from a country I have never been to.",
        "I need to transfer ownership of our workspace to another administrator.",
        "My account was suspended without any warning and I do not understand why.",
        "I want to close my account completely and have all my personal data deleted.",
        "The two-factor authentication is tied to my old phone number, which I no longer have.",
        "I accidentally created two accounts and would like to merge them into one.",
        "My username shows the wrong name and I cannot edit it from the profile page.",
        "I would like to receive a copy of all the personal data you hold about me.",
        "The invitation link for a new team member says it has expired although I just sent it.",
        "I keep getting a message that my email is already registered when I try to sign up.",
        "Our single sign-on setup stopped letting anyone from our domain log in.",
        "I cannot remove a former employee from our team because the button is greyed out.",
        "My security questions were changed and I did not do it myself.",
        "I need to update the phone number and postal address we have on file.",
    ],
    "shipping": [
        "The tracking page has shown the same status for six days and nothing is moving.",
        "The parcel was marked as delivered but nobody here received anything.",
        "The box arrived badly damaged and the device inside does not switch on.",
        "I received the wrong item, a completely different model from the one I ordered.",
        "Half of the order arrived and the rest seems to have disappeared.",
        "I need to change the delivery address because I will not be home next week.",
        "The courier wants us to pay customs fees that were not mentioned at checkout.",
        "My order was cancelled automatically and I was never told the reason.",
        "I would like to return the item but the return label link does not work.",
        "The delivery was attempted while we were open, yet the driver left a note saying nobody was there.",
        "The package was sent back to your warehouse by the carrier without any explanation.",
        "I paid for next day delivery but the order has not even been dispatched yet.",
        "The refund for my returned item has not been issued although the tracking says you received it.",
        "The invoice in the box lists items that are not actually in the package.",
        "Our pallet delivery was left outside in the rain rather than brought to the loading dock.",
        "I would like to know whether you can ship to our office in another country.",
    ],
    "other": [
        "I would like to know whether you offer discounts for educational institutions.",
        "Could you send me your latest security certification and data processing agreement?",
        "I have a suggestion for a feature that would save our team a lot of time.",
        "I want to complain about the way I was treated by one of your sales representatives.",
        "Is there a partner programme for agencies that resell your products to clients?",
        "We need a signed letter confirming that we are a customer, for a tender application.",
        "I would like to know where your servers are located and who has access to our data.",
        "Can you tell me when the new version announced at your conference will be released?",
        "I am interested in a demo for our management team sometime next month.",
        "I would like to request an accessibility statement for your web application.",
        "Do you have any openings for internships in your customer success department?",
        "We would like to feature your product in a case study and need your permission.",
        "Could you explain the difference between your two enterprise offerings in plain words?",
        "I want to give positive feedback about the excellent help I got last week.",
        "Is it possible to pay by bank transfer instead of credit card for a large order?",
        "We need to know your plans for supporting the new European accessibility rules.",
    ],
}

DETAILS = {
    "billing": [
        "My card {card} was charged twice, {amount} each time, on {date}.",
        "The direct debit from my account {iban} went out on {date} even though I had cancelled.",
        "The invoice for account {account} shows {amount} but we were quoted {amount2} for the {plan} plan.",
        "A charge of {amount} showed up on my statement for the card {card}, which I did not authorise.",
        "You can find everything under customer account {account}, invoice dated {date}.",
        "Please refund the money to the IBAN {iban} rather than the card, which has since expired.",
        "For verification, the payment came from card number {card} and the billing address is {address}.",
        "The disputed invoice belongs to order {order} and the total was {amount}.",
        "I paid {amount} by bank transfer from {iban} and used {order} as the reference.",
        "Our accounts payable contact can be reached at {email} if you need to send a corrected invoice.",
        "Account number {account} has been on the {plan} plan since {date}, nothing changed on our side.",
        "The second charge of {amount2} is pending on my card {card} and I would like it stopped.",
        "My statement lists {count} separate transactions from you in the last week alone.",
    ],
    "technical": [
        "The affected server is {hostname} at {ip}, in case you want to look at your logs.",
        "We authenticate with the key {api_key}; please treat it as compromised now that I have pasted it here.",
        "It happens on my {device} with version {version}, and the log always ends with {error}.",
        "Our gateway {hostname} started returning {error} at around {date} in the evening.",
        "The request comes from our office IP {ip} and is sent to your endpoint every five minutes.",
        "I already restarted {hostname} twice and cleared the cache, but the problem came back within an hour.",
        "Here is the token our script uses: {api_key}, which worked fine until yesterday.",
        "The device serial number is printed under the {product} logo, and it is connected from {ip}.",
        "In the browser console I see {error} followed by a long stack trace that I can send you.",
        "Our account number with you is {account}, the workspace with the problem is our main one.",
        "About {count} users are affected, all of them on {browser} and the latest desktop client.",
        "The nightly job on {hostname} used the credentials {api_key} and failed at {error}.",
        "I can be reached on {phone} if it is easier to walk through this on a call.",
    ],
    "account": [
        "The account is registered under {email} and my name, {name}.",
        "For security, my date of birth is on file and my social security number is {ssn}.",
        "My customer account number is {account}, and the old phone number on it is no longer in service.",
        "The suspicious login came from {ip} according to the security page.",
        "Please update the phone number to {phone} and the postal address to {address}.",
        "The new email address I want to use is {email}.",
        "You can verify me with the last order I placed, {order}, which I paid with {card}.",
        "The workspace belongs to account {account} and the new owner should be me.",
        "I tried logging in from {ip} on my {device} and got {error} every time.",
        "Send any confirmation to {email} or call me at {phone} during office hours.",
        "My SSN is {ssn} if you need it to confirm my identity, I was asked for it last time.",
        "The address on the account should be {address}, not the old one.",
        "I registered with {email} back in 2019 and the account number is {account}.",
    ],
    "shipping": [
        "The order number is {order} and the tracking number from {carrier} is {tracking}.",
        "Please ship the replacement to {address} instead.",
        "The order {order} was paid with my card {card} on {date}.",
        "The delivery address on file is {address}, which is still correct.",
        "You can call me at {phone} so the courier can reach me on the day of delivery.",
        "It was order {order} for {count} items, total {amount}.",
        "The {carrier} driver left a card saying they would try again, but they never came back.",
        "My contact email for the delivery updates is {email}.",
        "I have photos of the damaged {product} that I can send over if needed.",
        "We ordered on {date} under customer account {account}.",
        "Please ship it to {address} and call {phone} when it is close.",
        "The return for order {order} was dropped off at a {carrier} point on {date}.",
        "The box contained a {product} instead of what I ordered, and the packing slip says {order}.",
    ],
    "other": [
        "You can reach me at {email} or on {phone} if a call is easier.",
        "Our customer account is {account}, in case that helps you find us.",
        "Please send the documents to {address}, attention of {name}.",
        "We have about {count} people who would use {product} every day.",
        "Our most recent order was {order}, which went smoothly.",
        "I would be available any afternoon next week, my direct line is {phone}.",
        "We would need everything in writing by {date} at the latest.",
        "The decision will be made by our board, so a short summary would help.",
        "Our current contract runs under account {account} and renews in the autumn.",
        "I have copied our procurement team on this message so they can follow along.",
        "Feel free to forward this to the right department if it is not you.",
        "Any reply can go to {email}, I check it several times a day.",
        "We are comparing your {plan} offering with two other vendors at the moment.",
    ],
}

URGENCY = [
    "This is quite urgent because our month-end closing is on Friday.",
    "Our whole team is blocked until this is sorted out.",
    "I have already contacted you twice about this without a reply.",
    "Could someone please get back to me today?",
    "It is not urgent, but I would appreciate an answer this week.",
    "Honestly I am getting frustrated, this is the third time something like this has happened.",
    "We have a customer demo tomorrow morning, so any quick help would be great.",
    "If this cannot be solved we will have to look at other providers.",
    "Please let me know if you need any more information from me.",
    "I have attached a screenshot, I hope it comes through.",
]

CLOSINGS = [
    "Thanks in advance for your help.",
    "Thank you.",
    "Many thanks.",
    "Looking forward to hearing from you.",
    "Thanks a lot!",
    "Any help would be appreciated.",
    "Thank you for your time.",
    "Cheers.",
    "Hope you can help.",
    "Thanks!",
]

# Casual first chat turns that come before the real question.
CHAT_HELLOS = ["hi", "hello", "hi there", "hello? anyone there?", "hey", "good morning", "hi, quick question"]

# Extra chat turns where the customer adds one more detail after the question.
CHAT_EXTRA_TURNS = [
    "oh and my order number is {order}",
    "also, account number {account} if that helps",
    "btw you can call me on {phone}",
    "my email is {email} in case you need it",
    "it's the {product} by the way",
    "forgot to say, it started on {date}",
    "the error says {error}",
    "sorry, the address is {address}",
]

CHAT_FILLERS = ["ok", "thanks!", "👍", "great, thank you", "perfect", "ok thx", "thank you so much", "cool",
                "alright", "that's all, thanks", "ok will try", "🙏"]

# A chat the customer comes back to hours later: the opener of the resumed question.
CHAT_RESUMES = ["Hi again, back about this.", "Hello, me again about the same issue.",
                "Sorry, I got pulled away earlier.", "Picking this up again:", "Hi, following up on my chat from earlier."]

# How an email follow-up opens, by which side took long to write (a reply can wait hours or days).
FOLLOWUP_THANKS = {
    "quick": ["Thanks for the quick reply."],
    "slow_answer": ["Thanks for getting back to me.", "Thanks for your reply."],
    "slow_customer": ["Sorry for the late reply, I was travelling.", "Apologies for the delay on my side."],
}

# Second-round questions the customer asks after the first answer, per task.
FOLLOWUPS = {
    "billing": [
        "And will the refund also include the tax that was charged on top?",
        "Could you also send me a corrected invoice with our VAT number on it?",
        "How long does it usually take until the money is back on the card?",
        "Will this also be fixed for next month's invoice automatically?",
        "Can I switch to paying by bank transfer from now on?",
        "Is there a way to get all our invoices as one PDF for the auditors?",
    ],
    "technical": [
        "Is there a way to roll back to the previous version in the meantime?",
        "Do I need to restart the server after changing that setting?",
        "Will this affect the data that was already synced?",
        "Is there a status page I can follow for updates on this?",
        "Should I also rotate the API key just to be safe?",
        "Does this fix also apply to the mobile app?",
    ],
    "account": [
        "How long will it take until the change is visible everywhere?",
        "Will I lose any of my saved settings when you do that?",
        "Can you also remove my old phone number from the account?",
        "Do the other team members need to do anything on their side?",
        "Will I get an email confirmation once it is done?",
        "Can I download my data myself before you close the account?",
    ],
    "shipping": [
        "Can you let me know as soon as the new parcel has been dispatched?",
        "Do I need to keep the damaged box for the carrier?",
        "Will I have to pay anything for the return shipping?",
        "Could you also upgrade it to express delivery this time?",
        "What happens if the courier misses me again?",
        "Is it possible to pick it up at a collection point instead?",
    ],
    "other": [
        "Could you also send me the pricing sheet for larger teams?",
        "Who would be my contact person going forward?",
        "Is there a deadline for applying to the programme?",
        "Can you send that in German as well for our works council?",
        "Would you be able to join a short call with our director?",
        "Is there a newsletter where these announcements are published?",
    ],
}

# --------------------------------------------------------------------------- agent answers

AGENT_GREETINGS = ["Hi {first_name},", "Hello {first_name},", "Dear {name},", "Hi {first_name}, thanks for reaching out.",
                   "Good day {first_name},"]
AGENT_INTROS = [
    "My name is {agent_first} and I will be looking into this for you.",
    "This is {agent_first} from the support team.",
    "I'm {agent_first}, thank you for contacting us.",
    "{agent_first} here, I have picked up your request.",
    "Thanks for your patience, my name is {agent_first} and I'll help you today.",
]

ANSWERS = {
    "billing": [
        "I can see the duplicate charge of {amount} and have issued a refund, which should reach you within {days} business days.",
        "I have corrected the invoice for order {order} and you will find the new version in the billing portal.",
        "The second payment was only a pre-authorisation and it will be released by your bank automatically.",
        "I have added your VAT number to the account, so future invoices will no longer include tax.",
        "The refund of {amount} was processed today under reference {ref}; please allow {days} business days.",
        "I have cancelled the renewal and credited the full amount back to the original payment method.",
        "Your plan has been adjusted to the number of active seats and the difference will be credited.",
        "I re-applied the spring discount and issued a credit note for the difference.",
        "The payment was declined by the issuing bank, so please check with them or try another card.",
        "Older invoices can be requested from us directly, and I have emailed them to you just now.",
        "I have updated the company name and address, and reissued the invoice under reference {ref}.",
        "The late fee was added in error and I have removed it from your account.",
        "You can switch the billing currency under Settings > Billing, and I have reset the exchange rate for this invoice.",
    ],
    "technical": [
        "This is a known issue with version {version} and a fix is being rolled out; clearing the local cache works around it.",
        "The error {error} means the request was rejected by our rate limiter, and I have raised your limit for now.",
        "Please rotate the exposed API key immediately from the developer console, and then update your script.",
        "Our engineers found a problem on one of our nodes and it has been resolved as of this morning.",
        "Could you try signing out, clearing the browser cache and signing in again on {browser}?",
        "I have escalated this to our engineering team under reference {ref}, and we will update you as soon as we know more.",
        "The export limit was lowered by mistake in the last release; it has been restored to the previous value.",
        "Reinstalling the client after removing the old configuration folder should solve the crash on startup.",
        "Webhook delivery was paused for your workspace after repeated failures, and I have re-enabled it.",
        "The device needs a firmware update; holding the reset button for ten seconds will start it.",
        "We have confirmed the issue with {error} on our side and a patch is scheduled for tonight.",
        "Please check that port 443 is open from {hostname}, since our service moved to a new address range.",
        "I have reset the two-factor pairing, so you can set it up again with the authenticator app.",
    ],
    "account": [
        "I have sent a new password reset link, so please check your spam folder if it does not arrive.",
        "The email address on your account has been updated and a confirmation was sent to the new address.",
        "I have locked the account as a precaution and reset all active sessions.",
        "Ownership of the workspace has been transferred, and the previous owner will be notified.",
        "Your account was suspended by our automated fraud checks, and I have lifted the suspension.",
        "Your deletion request is registered under reference {ref} and will be completed within {days} days.",
        "I have removed the old phone number, so you can now add the new one under security settings.",
        "The two accounts have been merged and all your data is now in one place.",
        "You will receive an export of all your personal data by email within {days} days.",
        "I have resent the invitation with a new link that is valid for seven days.",
        "Single sign-on was failing because the certificate had expired, and it has been renewed.",
        "The former employee has been removed and their licence was returned to your pool.",
        "We never ask for your social security number, so please do not send it; I have removed it from our records.",
    ],
    "shipping": [
        "I checked with {carrier} and the parcel for order {order} is delayed at the depot; it should arrive within {days} days.",
        "I am sorry about the damaged delivery, and a replacement has been sent out today by express.",
        "I have arranged a free return and the label is on its way to you by email.",
        "The correct item has been dispatched, and you can keep the wrong one, no need to send it back.",
        "The missing part of order {order} was shipped separately and should arrive tomorrow.",
        "I have updated the delivery address, and the change will show on the tracking page shortly.",
        "Customs charges should not have been requested, so I have asked the carrier to waive them.",
        "The order was cancelled because the payment could not be confirmed; I have re-opened it for you.",
        "I have opened an investigation with {carrier} under reference {ref}, which usually takes {days} days.",
        "Your refund for the returned item has been issued and should show up within {days} business days.",
        "We do ship to most EU countries, and delivery usually takes four to six business days.",
        "I have asked the courier to deliver to the loading dock and to call ahead next time.",
        "A new parcel is on its way under tracking number {tracking}.",
    ],
    "other": [
        "We do offer a discount for schools and universities, and I have sent the details to you by email.",
        "I have attached our ISO 27001 certificate and the data processing agreement to this message.",
        "Thank you for the suggestion, I have passed it on to our product team.",
        "I am sorry about your experience, and I have forwarded your message to the sales manager.",
        "Our partner programme is open to agencies, and a colleague will contact you this week.",
        "I have prepared the customer confirmation letter and attached it as a PDF.",
        "All customer data is hosted in data centres in Frankfurt and Dublin, and access is strictly limited.",
        "The new version is planned for release next quarter, and we will announce the exact date in our newsletter.",
        "I have passed your request to our sales team, who will be in touch to schedule a demo.",
        "You can find our accessibility statement on our website, and I have sent you the link.",
        "Large orders can be paid by bank transfer, so just ask for an invoice at checkout.",
        "Thank you for the kind words, I will make sure the colleague hears about it.",
        "Both plans include the same features, but the larger one adds dedicated support and single sign-on.",
    ],
}

FOLLOWUP_ANSWERS = {
    "billing": [
        "Yes, the refund covers the full amount including tax.",
        "The corrected invoice has been sent to your billing email a minute ago.",
        "Card refunds usually take {days} business days, depending on your bank.",
        "Yes, the change applies to all future invoices as well.",
    ],
    "technical": [
        "You can roll back from the downloads page, and older versions are listed there.",
        "A restart is not needed, the setting takes effect within a few minutes.",
        "Your existing data is not affected, only new changes were delayed.",
        "Yes, our status page is the best place to follow updates on this incident.",
    ],
    "account": [
        "The change should be visible everywhere within about fifteen minutes.",
        "No, all your settings stay exactly as they are.",
        "Yes, you will receive a confirmation email once it is completed.",
        "The other members do not need to do anything.",
    ],
    "shipping": [
        "You will get an email with the tracking link as soon as it leaves our warehouse.",
        "There is no need to keep the box, a photo is enough.",
        "Return shipping is free for you in this case.",
        "Yes, you can choose a collection point from the tracking page.",
    ],
    "other": [
        "I have attached the pricing sheet for teams of fifty and more.",
        "Your account manager will be your contact going forward.",
        "There is no deadline, applications are reviewed every month.",
        "Yes, a colleague can join a call, just reply with a few time slots.",
    ],
}

AGENT_CLOSINGS = [
    "Is there anything else I can help you with?",
    "Please let me know if you have any other questions.",
    "Have a great day!",
    "I hope this helps.",
    "Don't hesitate to get back to us if the problem comes back.",
    "Thanks for your patience.",
]
CHAT_AGENT_WRAPUPS = ["Is there anything else I can help you with today?", "You're welcome! Have a great day.",
                      "Glad I could help. Take care!", "Happy to help, have a nice evening."]

BOT_GREETINGS = [
    "Hi! I'm the virtual assistant. How can I help you today?",
    "Welcome to support chat. An agent will be with you shortly.",
    "Hello! Please describe your question and we'll connect you with an agent.",
    "Thanks for contacting us. Our average wait time is 2 minutes.",
]

# --------------------------------------------------------------------------- tickets

TICKET_CLARIFY = [
    "Could you tell me which browser and version you are using?",
    "Can you send me the order number so I can look it up?",
    "Does this happen for all users or only for some of them?",
    "Could you please attach a screenshot of the error message?",
    "When did you first notice this happening?",
    "Can you confirm the email address the account is registered with?",
]
TICKET_CUSTOMER_REPLIES = [
    "Sure, the order number is {order}.",
    "It is {browser} on a {device}, fully updated.",
    "Only three of us are affected, the others are fine.",
    "It started on {date}, right after the update.",
    "The account is under {email}.",
    "I attached the screenshot, the message says {error}.",
    "You can also call me at {phone} if that is quicker.",
]
TICKET_RESOLUTIONS = {
    "billing": [
        "Refunded the duplicate charge of {amount}; confirmation sent to the customer.",
        "Invoice corrected and reissued with the right company details.",
        "Removed the late fee and applied a goodwill credit to the account.",
        "Subscription downgraded to the actual number of seats; difference credited.",
    ],
    "technical": [
        "Root cause was an expired certificate on our side; renewed and confirmed working with the customer.",
        "Customer updated to the latest client version, crash no longer reproducible.",
        "Raised the API rate limit for the workspace and advised the customer to rotate the exposed key.",
        "Re-enabled webhooks after the endpoint was fixed; backlog replayed.",
    ],
    "account": [
        "Identity verified, password reset link sent and login confirmed.",
        "Email address updated and all sessions revoked as requested.",
        "Workspace ownership transferred to the new administrator.",
        "Account closed and personal data deletion scheduled under our retention policy.",
    ],
    "shipping": [
        "Replacement shipped by express; carrier investigation opened for the lost parcel.",
        "Return label issued and refund to be processed on receipt.",
        "Delivery address updated before dispatch; customer notified.",
        "Damaged item replaced, customer keeps the faulty unit.",
    ],
    "other": [
        "Sent the requested certificates and the data processing agreement.",
        "Forwarded to the sales team, who scheduled a demo with the customer.",
        "Feedback logged for the product team and thanked the customer.",
        "Customer confirmation letter signed and sent as PDF.",
    ],
}
TICKET_CLOSE_TEXTS = [
    "Ticket closed automatically after the customer confirmed the resolution.",
    "Ticket closed.",
    "This ticket was closed because there was no further response. Reply to reopen it.",
    "Status changed from Resolved to Closed by workflow.",
]
TICKET_PRIORITIES = ["priority:low", "priority:normal", "priority:high", "priority:urgent"]
TICKET_SOURCES = ["source:portal", "source:email", "source:phone", "source:api"]

# --------------------------------------------------------------------------- emails

SUBJECTS = {
    "billing": ["Double charge on my card", "Question about invoice {order}", "Refund still not received",
                "Wrong amount on latest invoice", "Cancel subscription and refund", "VAT on our invoices",
                "Payment declined", "Unknown charge from your company"],
    "technical": ["{error} when syncing", "App crashes on start", "API requests failing since yesterday",
                  "Dashboard not loading", "Export produces empty file", "Webhooks stopped working",
                  "Urgent: production issue", "Problem after update to {version}"],
    "account": ["Cannot log in", "Change email address", "Suspicious login on my account", "Delete my account",
                "Transfer workspace ownership", "2FA phone number changed", "Merge two accounts",
                "Data access request"],
    "shipping": ["Where is my order {order}?", "Parcel marked delivered but not received", "Damaged delivery",
                 "Wrong item received", "Change delivery address", "Return label not working",
                 "Customs fees on delivery", "Order {order} cancelled?"],
    "other": ["Education discount?", "Security documents request", "Feature suggestion", "Complaint",
              "Partner programme", "Customer confirmation letter", "Data center locations", "Demo request"],
}
REPLY_PREFIX = {"en": "Re: ", "de": "AW: ", "fr": "RE : ", "es": "RE: ", "ru": "Re: "}
OUTLOOK_REPLY_PREFIX = "RE: "

SIGNOFFS = {
    "en": ["Best regards,", "Kind regards,", "Thanks,", "Cheers,", "Regards,", "Best,", "Many thanks,"],
    "de": ["Mit freundlichen Grüßen", "Viele Grüße", "Beste Grüße", "Gruß"],
    "fr": ["Cordialement,", "Bien à vous,", "Merci d'avance,", "Bonne journée,"],
    "es": ["Saludos,", "Un saludo,", "Atentamente,", "Gracias,"],
}
TITLES = ["Office Manager", "Head of Finance", "IT Administrator", "Procurement Lead", "Operations Manager",
          "Senior Accountant", "Managing Director", "Project Coordinator", "Systems Engineer", "Owner",
          "Purchasing Assistant", "Chief Technology Officer", "Facilities Coordinator"]
COMPANIES = ["Brightwave Ltd", "Nordlicht GmbH", "Atelier Rivière SARL", "Soluciones Iberia S.L.",
             "Harbor & Pine LLC", "Kestrel Logistics", "Meridian Health Partners", "Bluefield Retail Group",
             "Quantix Analytics", "Oakridge Legal LLP", "Stellar Print Co.", "Vinculum Consulting",
             "Greenleaf Organics", "Polaris Engineering AG", "Cobalt Creative Studio"]
FREE_MAIL = {
    "en_US": ["gmail.com", "yahoo.com", "outlook.com", "icloud.com", "aol.com"],
    "en_GB": ["gmail.com", "btinternet.com", "outlook.com", "yahoo.co.uk", "hotmail.co.uk"],
    "de_DE": ["gmx.de", "web.de", "t-online.de", "gmail.com"],
    "fr_FR": ["orange.fr", "free.fr", "laposte.net", "gmail.com"],
    "es_ES": ["gmail.com", "hotmail.es", "yahoo.es", "telefonica.net"],
}
MOBILE_FOOTERS = {
    "en": ["Sent from my iPhone", "Get Outlook for Android", "Sent from my Galaxy", "Sent from Yahoo Mail for iPhone",
           "Sent from my iPad"],
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
    "en": ["I am out of the office until {date} with limited access to email. For urgent matters please contact "
           "my colleague at the office.", "Thank you for your email. I am currently on leave and will reply when I "
           "am back on {date}."],
    "de": ["Vielen Dank für Ihre Nachricht. Ich bin bis einschließlich {date} nicht im Büro und habe keinen "
           "Zugriff auf meine E-Mails."],
    "fr": ["Je suis absent(e) du bureau jusqu'au {date}. Je répondrai à votre message dès mon retour."],
    "es": ["Estoy fuera de la oficina hasta el {date}. Responderé a su mensaje a mi regreso."],
}
OOO_SUBJECT_PREFIX = {"en": "Automatic reply: ", "de": "Abwesenheitsnotiz: ", "fr": "Réponse automatique : ",
                      "es": "Respuesta automática: "}

# Quote headers a mail client writes above the quoted previous message, by client and UI language.
# Fields come from generate._time_fields plus {name} {email}.
QUOTE_HEADERS = {
    ("gmail", "en"): "On {wd3}, {mon3} {day}, {year} at {h12}:{mm} {ampm} {name} <{email}> wrote:",
    ("apple", "en"): "On {mon3} {day}, {year}, at {hh}:{mm}, {name} <{email}> wrote:",
    ("thunderbird", "en"): "On {dd}/{mo}/{year} {hh}:{mm}, {name} wrote:",
    ("yahoo", "en"): "On {wdfull}, {monfull} {day}, {year}, {h12}:{mm}:{ss} {ampm} UTC, {name} <{email}> wrote:",
    "de": "Am {dd}.{mo}.{year} um {hh}:{mm} schrieb {name} <{email}>:",
    "fr": "Le {wd_fr} {day} {mon_fr} {year} à {hh}:{mm}, {name} <{email}> a écrit :",
    "es": "El {wd_es}, {day} {mon_es} {year} a las {hh}:{mm}, {name} (<{email}>) escribió:",
    "ru": "{dd}.{mo}.{year}, {hh}:{mm}, \"{name}\" <{email}> написал(а):",
}
OUTLOOK_HEADERS = {
    "en": ("From: {name} <{email}>\nSent: {wdfull}, {monfull} {day}, {year} {h12}:{mm} {ampm}\n"
           "To: {to}\nSubject: {subject}"),
    "de": "Von: {name} <{email}>\nGesendet: {wd_de}, {day}. {mon_de} {year} {hh}:{mm}\nAn: {to}\nBetreff: {subject}",
}
OUTLOOK_SEPARATORS = ["-----Original Message-----", "________________________________"]

MONTHS = {
    "en": ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"],
    "de": ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober",
           "November", "Dezember"],
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
    "outlook": ('<html xmlns:o="urn:schemas-microsoft-com:office:office"><head><meta http-equiv="Content-Type" '
                'content="text/html; charset=utf-8"><style><!-- p.MsoNormal {{margin:0cm;font-size:11.0pt;'
                'font-family:"Calibri",sans-serif;}} --></style></head><body lang="EN-US" link="#0563C1">'
                '<div class="WordSection1">{content}{signature}{quote}</div></body></html>'),
    "apple": ('<html><head><meta http-equiv="content-type" content="text/html; charset=utf-8"></head>'
              '<body style="overflow-wrap: break-word; -webkit-nbsp-mode: space; line-break: after-white-space;">'
              '{content}{signature}{quote}</body></html>'),
    "yahoo": ('<html><head></head><body><div class="ydp6c1f2a3byahoo-style-wrap" style="font-family:Helvetica '
              'Neue, Helvetica, Arial, sans-serif;font-size:13px;">{content}{signature}</div>{quote}</body></html>'),
    "thunderbird": ('<html><head><meta http-equiv="Content-Type" content="text/html; charset=UTF-8"></head>'
                    '<body>{content}{signature}{quote}</body></html>'),
}
HTML_BLOCK = {
    "gmail": "<div>{p}</div><div><br></div>",
    "outlook": '<p class="MsoNormal">{p}<o:p></o:p></p><p class="MsoNormal"><o:p>&nbsp;</o:p></p>',
    "apple": "<div>{p}</div><div><br></div>",
    "yahoo": '<div dir="ltr" data-setdir="false">{p}</div><div dir="ltr" data-setdir="false"><br></div>',
    "thunderbird": "<p>{p}</p>",
}
HTML_SIGNATURE = {
    "gmail": ('<span class="gmail_signature_prefix">-- </span><br><div dir="ltr" class="gmail_signature" '
              'data-smartmail="gmail_signature"><div dir="ltr">{lines}</div></div>'),
    "outlook": '<p class="MsoNormal"><span style="font-size:10.0pt;color:#1F3864">{lines}</span><o:p></o:p></p>',
    "apple": '<div><span style="color: rgb(0, 0, 0);">{lines}</span></div>',
    "yahoo": '<div class="signature">{lines}</div>',
    "thunderbird": '<div class="moz-signature">-- <br>{lines}</div>',
}
HTML_DISCLAIMER = '<p style="font-size:8pt;color:#888888;font-family:Arial,sans-serif">{text}</p>'
HTML_QUOTE = {
    "gmail": ('<br><div class="gmail_quote gmail_quote_container"><div dir="ltr" class="gmail_attr">{header}<br>'
              '</div><blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex;border-left:1px solid '
              'rgb(204,204,204);padding-left:1ex">{quoted}</blockquote></div>'),
    "outlook": ('<div id="appendonsend"></div><hr style="display:inline-block;width:98%" tabindex="-1">'
                '<div id="divRplyFwdMsg" dir="ltr"><font face="Calibri, sans-serif" style="font-size:11pt" '
                'color="#000000">{header}</font><div>&nbsp;</div></div>{quoted}'),
    "apple": ('<div><br><blockquote type="cite"><div>{header}</div><br class="Apple-interchange-newline">'
              '<div>{quoted}</div></blockquote></div>'),
    "yahoo": ('<div id="yahoo_quoted_4821" class="yahoo_quoted"><div style="font-family:&quot;Helvetica Neue&quot;, '
              'Helvetica, Arial, sans-serif;font-size:13px;color:#26282a;"><div>{header}</div><div><br></div>'
              '<blockquote style="margin:0 0 0 .8ex;border-left:1px #ccc solid;padding-left:1ex">{quoted}'
              '</blockquote></div></div>'),
    "thunderbird": ('<div class="moz-cite-prefix">{header}<br></div><blockquote type="cite" cite="mid:{mid}">'
                    '{quoted}</blockquote>'),
}

# --------------------------------------------------------------------------- feedback

FEEDBACK_UP = ["Exactly what I needed.", "Clear and quick, thanks.", "Solved my problem.", "Helpful!",
               "Good answer, saved me a call."]
FEEDBACK_DOWN = ["Didn't answer my question.", "This is wrong, I already tried that.", "Too generic.",
                 "It ignored the order number I gave.", "The steps don't exist in the app.", "Not helpful at all."]
UNHELPFUL_RESPONSES = [
    "I'm sorry, I can't help with that request.",
    "Please contact support for further assistance.",
    "I don't have enough information to answer this question.",
    "Thank you for your message. Have a nice day!",
]

# --------------------------------------------------------------------------- near-duplicate edits

# Word swaps a reposting customer typically makes; words not listed get a small typo instead.
WORD_EDITS = {
    "charged": "billed", "invoice": "bill", "refund": "reimbursement", "cannot": "can't", "please": "pls",
    "order": "purchase", "received": "gotten", "problem": "issue", "immediately": "right away",
    "account": "profile", "parcel": "package", "delivery": "shipment", "help": "assistance",
    "nothing": "still nothing", "error": "failure", "simply": "just", "completely": "totally",
    "months": "mos", "really": "truly", "about": "around", "several": "a few", "quite": "pretty",
    "update": "upgrade", "suddenly": "all of a sudden", "company": "firm", "thanks": "thx",
}

# --------------------------------------------------------------------------- malformed payloads

# Non-ASCII sentences appended before a text is written as cp1252, so the bytes are never valid UTF-8.
LATIN1_SENTENCES = ["Merci beaucoup, à bientôt.", "Café und Grüße aus München.", "Le délai est dépassé.",
                    "Réponse urgente, s'il vous plaît."]
LOG_LINES = [
    "2026-01-05T10:00:01.123Z ERROR [worker-3] sync failed: connection reset by peer (retry 1/5)",
    "2026-01-05T10:00:02.456Z WARN  [scheduler] job export-weekly exceeded soft limit of 300s",
    "2026-01-05T10:00:03.789Z INFO  [http] GET /api/v2/items?page=17 200 812ms",
    "2026-01-05T10:00:04.012Z DEBUG [cache] miss key=session:8f2a1c ttl=0",
]

"""What agents write back (greeting, self-introduction, answers that echo the question's details)
and the ratings and comments users leave on a model's response."""

AGENT_GREETINGS = [
    "Hi {first_name},",
    "Hello {first_name},",
    "Dear {name},",
    "Hi {first_name}, thanks for reaching out.",
    "Good day {first_name},",
]

AGENT_INTROS = [
    "My name is {agent_first} and I will be looking into this for you.",
    "This is {agent_first} from the support team.",
    "I'm {agent_first}, thank you for contacting us.",
    "{agent_first} here, I have picked up your request.",
    "Thanks for your patience, my name is {agent_first} and I'll help you today.",
]

ANSWERS = {
    "billing": [
        "I can see the duplicate charge of {amount} and have issued a refund, which should reach you within "
        "{days} business days.",
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

FEEDBACK_UP = [
    "Exactly what I needed.",
    "Clear and quick, thanks.",
    "Solved my problem.",
    "Helpful!",
    "Good answer, saved me a call.",
]

FEEDBACK_DOWN = [
    "Didn't answer my question.",
    "This is wrong, I already tried that.",
    "Too generic.",
    "It ignored the order number I gave.",
    "The steps don't exist in the app.",
    "Not helpful at all.",
]

UNHELPFUL_RESPONSES = [
    "I'm sorry, I can't help with that request.",
    "Please contact support for further assistance.",
    "I don't have enough information to answer this question.",
    "Thank you for your message. Have a nice day!",
]

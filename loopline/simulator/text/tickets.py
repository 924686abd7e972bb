"""Ticket-only text: an agent's clarifying question, the customer's answer, resolutions, closes, tags."""

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

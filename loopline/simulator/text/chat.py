"""Chat-only turns: small talk before and after the question, the bot's greeting, a resumed chat's opener."""

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

CHAT_FILLERS = [
    "ok",
    "thanks!",
    "👍",
    "great, thank you",
    "perfect",
    "ok thx",
    "thank you so much",
    "cool",
    "alright",
    "that's all, thanks",
    "ok will try",
    "🙏",
]

# A chat the customer comes back to hours later: the opener of the resumed question.
CHAT_RESUMES = [
    "Hi again, back about this.",
    "Hello, me again about the same issue.",
    "Sorry, I got pulled away earlier.",
    "Picking this up again:",
    "Hi, following up on my chat from earlier.",
]

BOT_GREETINGS = [
    "Hi! I'm the virtual assistant. How can I help you today?",
    "Welcome to support chat. An agent will be with you shortly.",
    "Hello! Please describe your question and we'll connect you with an agent.",
    "Thanks for contacting us. Our average wait time is 2 minutes.",
]

CHAT_AGENT_WRAPUPS = [
    "Is there anything else I can help you with today?",
    "You're welcome! Have a great day.",
    "Glad I could help. Take care!",
    "Happy to help, have a nice evening.",
]

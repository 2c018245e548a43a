"""The one exception type for mistakes a user can make (bad input, bad files, bad settings).

The app shows it with ``st.error``; the CLI prints it and exits with status 2. Anything else that
escapes is a bug in CNN Explorer, not the user's fault.
"""


class UserError(ValueError):
    """Something the user gave us is wrong; the message says what and what to do instead."""

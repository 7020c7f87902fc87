"""apikeyid: the Slack bot that gives the id of a Coveo API key from its name."""

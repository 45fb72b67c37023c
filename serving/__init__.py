"""The web app's parts that are not its page: what it holds (services), its settings, its start-up and the Rounds tab's data."""

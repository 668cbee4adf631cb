"""``strato.concurrent``: ``concurrent.futures`` on strato (see ``strato.concurrent.futures``)."""

"""Running labctl's plans from bluesky-queueserver: the RE Manager's startup code (:mod:`.startup`)."""

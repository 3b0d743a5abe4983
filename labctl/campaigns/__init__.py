"""Autonomous campaigns: the bench proposes its next experiment, runs it, learns from it, goes on.

* :mod:`labctl.campaigns.spec` reads a campaign file (TOML, units everywhere) and checks it
  against the experiment's parameters and the bench's limits.
* :mod:`labctl.campaigns.optimisers` holds the engines, all speaking blop's optimiser protocols
  (``suggest``, ``ingest``, ``get_best_points``, failures, checkpoint): the default GP-ARD
  Bayesian optimiser (bayesian-optimization), random, Sobol and grid baselines, and blop's own
  Ax optimiser with the ``ax`` extra.
* :mod:`labctl.campaigns.loop` is the loop as a Bluesky plan (suggest, check, run, analyse,
  ingest), with the campaign's state saved after every experiment so that it resumes.
* :mod:`labctl.campaigns.rehearsal` runs a whole campaign in virtual time on the simulated bench,
  and compares strategies.
"""

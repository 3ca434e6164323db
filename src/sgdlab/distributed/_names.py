"""The names the command line needs before anything heavy is imported."""

#: The algorithms of :func:`sgdlab.distributed.run` and ``sgdlab distributed ALGO``.
ALGORITHMS = ("downpour", "dtadagrad", "easgd", "eamsgd", "diloco", "sync", "serial")
#: What a run does when a worker dies mid-run.
FAILURE_POLICIES = ("replace", "reassign", "raise")

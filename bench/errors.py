class BenchError(ValueError):
    """A suite option or workload that cannot be run; the message names the value and the accepted ones."""

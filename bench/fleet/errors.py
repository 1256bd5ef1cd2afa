from bench.errors import BenchError


class FleetError(BenchError):
    """A fleet command's bad input or a cluster that cannot serve it; the message is one line."""


def task_error_reason(error: BaseException) -> str:
    """One line for a failed Ray task: its cause's type and the cause's last line.

    A RayTaskError's own first line is only the task's name, pid and ip; what went wrong is its
    `cause` (the node's exception, or a RayActorError / NodeDiedError from Ray itself)."""
    cause = getattr(error, "cause", None) or error
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[-1]}" if text else type(cause).__name__

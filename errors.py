"""User-facing errors.

Every problem caused by the user's input (a missing or corrupt file, a box
outside the image, a checkpoint of another model, ...) is raised as a
:class:`SiamtrackError` whose message is one line naming the file or value and
the problem. The CLI prints it on stderr as ``siamtrack: error: <message>``
and exits with code 2, without a traceback.
"""


class SiamtrackError(Exception):
    """A user-facing error: one line naming the offending input and the problem.

    Raised by sources, checkpoint loading, presets and box validation.
    ``exit_code`` is what the CLI exits with (2, as for click usage errors).
    """

    exit_code = 2

    def __init__(self, message: str):
        message = " ".join(str(message).split())  # always a single line
        super().__init__(message)


def missing_path_error(path: str) -> SiamtrackError:
    """The error for an input path that does not exist: ``<path>: no such file or folder``.

    The one wording of every "missing path" error (video or image folder, checkpoint,
    weights file), whatever kind of path was expected.
    """
    return SiamtrackError(f"{path}: no such file or folder")

"""One exception hierarchy for every expected failure in dpone.

Each error is a value with a stable ``code``, the ``process`` and ``step`` it happened in, a message
for a person and the ``fix``. ``str(error)`` is always one line, and the CLI maps the class to an exit
code in one place (:func:`exit_code_for`). Messages pass through the active redactor so a resolved
secret can never leak through an exception.
"""

from __future__ import annotations

from dataclasses import dataclass

from dpone_core.redaction import redact

EXIT_PASSED = 0
EXIT_FAILED = 1
EXIT_CONFIGURATION = 2
EXIT_INTERRUPTED = 130


@dataclass(frozen=True)
class ErrorInfo:
    """A serialisable snapshot of a :class:`DponeError` for reports and artifacts."""

    code: str
    message: str
    process: str | None = None
    step: str | None = None
    fix: str | None = None

    def one_line(self) -> str:
        """Render as the single line a user sees.

        >>> ErrorInfo("DPONE_X", "boom", "orders", "extract", "retry").one_line()
        "[DPONE_X] process 'orders', step extract: boom. Fix: retry"
        """
        where = []
        if self.process:
            where.append(f"process '{self.process}'")
        if self.step:
            where.append(f"step {self.step}")
        prefix = f"[{self.code}] " + (", ".join(where) + ": " if where else "")
        text = prefix + self.message.rstrip(".")
        if self.fix:
            text += f". Fix: {self.fix}"
        return redact(" ".join(text.split()))


class DponeError(Exception):
    """Base of every expected dpone failure; never shown with a stack trace."""

    code = "DPONE_ERROR"
    retryable = False

    def __init__(
        self,
        message: str,
        *,
        process: str | None = None,
        step: str | None = None,
        fix: str | None = None,
        code: str | None = None,
    ) -> None:
        self.message = message
        self.process = process
        self.step = step
        self.fix = fix
        self.details: list[str] = []
        if code:
            self.code = code
        super().__init__(self.info().one_line())

    def info(self) -> ErrorInfo:
        """Return the serialisable form of this error."""
        return ErrorInfo(self.code, redact(self.message), self.process, self.step, self.fix)

    def with_details(self, details: list[str]) -> DponeError:
        """Attach every individual problem (e.g. all manifest errors); returns self for ``raise``."""
        self.details = [redact(line) for line in details]
        return self

    def at(self, *, process: str | None = None, step: str | None = None) -> DponeError:
        """Fill in process/step when the raiser did not know them; returns self for ``raise e.at(...)``."""
        self.process = self.process or process
        self.step = self.step or step
        self.args = (self.info().one_line(),)
        return self


class ManifestError(DponeError):
    """The manifest, a registry file or a CLI option is invalid (exit 2, nothing ran)."""

    code = "DPONE_MANIFEST_INVALID"


class ConfigurationError(ManifestError):
    """Configuration that parses but cannot be used: missing env var, missing extra (exit 2)."""

    code = "DPONE_CONFIGURATION"


class DponeConnectionError(DponeError):
    """A source or sink could not be reached or refused the credentials."""

    code = "DPONE_CONNECTION"


class ContractViolation(DponeError):
    """Rows broke a strict data contract; nothing was committed."""

    code = "DPONE_CONTRACT_VIOLATION"


class SchemaEvolutionBlocked(DponeError):
    """The source schema changed in a way the evolution policy refuses."""

    code = "DPONE_SCHEMA_EVOLUTION_BLOCKED"


class TypeCompatibilityError(DponeError):
    """Source values cannot be written to the target column types without loss."""

    code = "DPONE_TYPE_INCOMPATIBLE"


class TerminalError(DponeError):
    """A failure that a retry cannot fix (missing object, permission, bad data)."""

    code = "DPONE_TERMINAL"


class DuplicateKeyError(TerminalError):
    """The target's primary key rejected a row (two rows of the load share a key)."""

    code = "DPONE_DUPLICATE_KEY"


class OutOfMemory(TerminalError):
    """An engine ran out of memory under its configured limit; the fix names the setting."""

    code = "DPONE_OUT_OF_MEMORY"


class ReconcileFailed(TerminalError):
    """The reconcile gate found the target's new version different from the source's window."""

    code = "DPONE_RECONCILE_FAILED"


class TransientError(DponeError):
    """A failure worth retrying: connection reset, timeout, lock held, serialization failure."""

    code = "DPONE_TRANSIENT"
    retryable = True


class ConcurrentRunError(TransientError):
    """Another run of the same process holds the sink's lease."""

    code = "DPONE_ALREADY_RUNNING"


class InterruptedRun(DponeError):
    """The user interrupted the run (Ctrl-C); the open transaction was rolled back."""

    code = "DPONE_INTERRUPTED"


def is_retryable(error: BaseException) -> bool:
    """Whether another attempt may succeed: only :class:`TransientError` and its subclasses.

    The one retry classifier: the core's own retries, ``dpone orchestrate``, the Airflow operator
    and the Dagster assets all decide with it (through ``ErrorEntry.retryable``). An unexpected
    error is not retried: it is a bug to report, and repeating it may repeat its damage.
    """
    return isinstance(error, DponeError) and error.retryable


def exit_code_for(error: BaseException) -> int:
    """The one exit-code classifier: 130 interrupted, 2 manifest/configuration, 1 anything else."""
    if isinstance(error, KeyboardInterrupt | InterruptedRun):
        return EXIT_INTERRUPTED
    if isinstance(error, ManifestError):
        return EXIT_CONFIGURATION
    return EXIT_FAILED


def classify_code(code: str) -> tuple[bool, int]:
    """(retryable, exit code) of an error code, from the class that declares it.

    For error records that carry only a code (reports read back from JSON written by an older
    version). An unknown code (``DPONE_INTERNAL``) is not retryable and exits 1.

    >>> classify_code("DPONE_ALREADY_RUNNING"), classify_code("DPONE_CONFIGURATION"), classify_code("X")
    ((True, 1), (False, 2), (False, 1))
    """
    pending: list[type[DponeError]] = [DponeError]
    while pending:
        cls = pending.pop()
        if cls.code == code:
            example = cls.__new__(cls)
            return cls.retryable, exit_code_for(example)
        pending.extend(cls.__subclasses__())
    return False, EXIT_FAILED

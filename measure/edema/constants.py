"""Names shared by the STIR edema analysis: statuses, the outline order, UI sentences."""

from __future__ import annotations

from measure.edema_config import DEFAULT_CONFIG, EdemaConfig

#: Order of the six landmarks around the body outline (a simple polygon).
OUTLINE_ORDER: tuple[str, ...] = ("sup_ant", "sup_mid", "sup_post", "inf_post", "inf_mid", "inf_ant")

#: Body status that marks a reader-chosen normal reference body.
REFERENCE_STATUS = "reference"

#: ``StirResult.status`` values.
STATUS_OK = "ok"
STATUS_NO_STIR = "no-stir"
STATUS_NOT_MEASURED = "not-measured"  # fewer than six landmarks
STATUS_OUTSIDE = "outside"  # no STIR slice near the landmarks, or outline off the image
STATUS_TOO_SMALL = "too-small"  # fewer ROI voxels than EdemaConfig.min_voxels
STATUS_NO_REFERENCE = "no-reference"  # no other analysed body to compare with
STATUS_PLANE = "plane-mismatch"  # STIR slices too oblique to the landmark plane
STATUS_FRAME = "frame-mismatch"  # landmarks and STIR in different frames of reference
STATUS_UNREADABLE = "unreadable"  # the STIR pixels could not be loaded
STATUSES: tuple[str, ...] = (
    STATUS_OK,
    STATUS_NO_STIR,
    STATUS_NOT_MEASURED,
    STATUS_OUTSIDE,
    STATUS_TOO_SMALL,
    STATUS_NO_REFERENCE,
    STATUS_PLANE,
    STATUS_FRAME,
    STATUS_UNREADABLE,
)

NO_CUTOFF_NOTE = (
    "No validated cut-off exists for STIR edema: the threshold is a configurable tool default, "
    "the reader confirms or overrides."
)
NO_STIR_MESSAGE = "recency unknown: no STIR series"


def default_choice_note(config: EdemaConfig = DEFAULT_CONFIG) -> str:
    """How the flag of ``config`` is decided and how its default was chosen (for the UI).

    The issue asks the UI, not only the docs, to say that the threshold is not validated and
    where the default comes from; the full reasoning is in docs/edema.md.
    """
    sir = f"SIR >= {config.sir_threshold:g}"
    fraction = f"at least {100 * config.fraction_threshold:g}% of the body bright"
    rule = {
        "either": f"{sir} or {fraction}",
        "both": f"{sir} and {fraction}",
        "sir": sir,
        "fraction": fraction,
    }[config.flag_rule]
    return (
        f"Flag rule: {rule}. These defaults were chosen on synthetic phantoms, where they separate "
        "normal marrow (with 10% noise) from band-like and whole-body edema by a wide margin, and "
        '"either" because band-like edema under the endplate raises the bright fraction but hardly '
        "the median; they are not validated on patients (docs/edema.md)."
    )

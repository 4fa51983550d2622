"""The plane that landmarks are measured in, and its anatomical 2-D frame.

Angles need every point in one plane (clinical reference, "Landmarks": six points on a
mid-sagittal slice).  Readers sometimes place points on neighbouring parallel slices, and
landmarks written by other tools may carry no image description at all, so this module:

* takes the plane normal from the images the landmarks sit on (``ImagePlane``), refusing
  images that are not parallel (normals more than :data:`MAX_PLANE_ANGLE_DEG` apart);
* fits the plane (SVD of the points) when no image is known, falling back to the patient
  sagittal plane when the fit is degenerate;
* projects the points orthogonally onto the plane with that normal through the mean of
  the points, and expresses them in a 2-D frame built from **patient** directions:
  x = "posterior" (LPS +Y projected onto the plane), y = "superior" (the in-plane
  perpendicular pointing towards LPS +Z).

Because the frame comes from patient space and not from the image axes, the sign of an
angle does not depend on how the image is shown (anterior left or right) nor on the sign
of the normal (clinical reference, "Angles": "anterior comes from the image geometry ...
never from which side of the screen the points are on").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from dicomio.geometry import LEFT_LPS, POSTERIOR_LPS, SUPERIOR_LPS
from measure.landmarks import ImagePlane, Landmark

PlaneSource = Literal["image", "fitted", "sagittal"]

#: Images whose normals differ by more than this are not "parallel slices".
MAX_PLANE_ANGLE_DEG = 1.0
#: The plane must keep at least this fraction of the posterior and superior directions
#: (cosine 0.5 = within 60 deg), or anterior/superior cannot be told apart in it.
MIN_IN_PLANE_FRACTION = 0.5
#: SVD fit: points are "nearly collinear" when the second singular value is below this
#: fraction of the first, and "not planar" when the third is above this fraction of the
#: second; either way the fitted normal is not trustworthy.
COLLINEAR_FRACTION = 0.1
NON_PLANAR_FRACTION = 0.5
#: Off-plane distances below this (mm) are rounding, not worth a note.
_OFF_PLANE_NOTE_MM = 0.01


def angle_between_normals_deg(a: ArrayLike, b: ArrayLike) -> float:
    """Angle (deg, 0..90) between two plane normals; opposite normals are parallel.

    Uses ``atan2(|a x b|, |a . b|)``, which stays accurate near 0 where ``acos`` is not.
    """
    u = np.asarray(a, dtype=float)
    v = np.asarray(b, dtype=float)
    u = u / np.linalg.norm(u)
    v = v / np.linalg.norm(v)
    return float(np.degrees(np.arctan2(np.linalg.norm(np.cross(u, v)), abs(float(np.dot(u, v))))))


@dataclass(frozen=True)
class MeasurementPlane:
    """A plane (through ``origin_mm``) with an anatomical in-plane frame.

    ``posterior_axis`` and ``superior_axis`` are orthonormal LPS vectors lying in the
    plane; :meth:`to_2d` gives (posterior, superior) coordinates in mm.
    """

    origin_mm: NDArray[np.float64]
    normal: NDArray[np.float64]
    posterior_axis: NDArray[np.float64]
    superior_axis: NDArray[np.float64]
    source: PlaneSource

    @classmethod
    def from_normal(
        cls, normal: ArrayLike, origin_mm: ArrayLike, source: PlaneSource, context: str = "the landmarks"
    ) -> MeasurementPlane:
        """Build the frame; ``ValueError`` when the plane is too far from sagittal."""
        n = np.asarray(normal, dtype=float)
        n = n / np.linalg.norm(n)
        posterior = POSTERIOR_LPS - float(np.dot(POSTERIOR_LPS, n)) * n
        superior = SUPERIOR_LPS - float(np.dot(SUPERIOR_LPS, n)) * n
        p_norm = float(np.linalg.norm(posterior))
        if p_norm >= MIN_IN_PLANE_FRACTION:
            posterior = posterior / p_norm
            superior = superior - float(np.dot(superior, posterior)) * posterior
        s_norm = float(np.linalg.norm(superior))
        if p_norm < MIN_IN_PLANE_FRACTION or s_norm < MIN_IN_PLANE_FRACTION:
            raise ValueError(
                f"The plane of {context} (normal {np.round(n, 3).tolist()} in LPS) is too far from "
                "sagittal to tell anterior from posterior and superior from inferior; expected "
                "landmarks placed on a sagittal or moderately oblique (< 60 deg) image."
            )
        return cls(
            origin_mm=np.asarray(origin_mm, dtype=float).reshape(3),
            normal=n,
            posterior_axis=posterior,
            superior_axis=superior / s_norm,
            source=source,
        )

    def with_origin(self, origin_mm: ArrayLike) -> MeasurementPlane:
        """The same frame through another point (the normal and axes do not change)."""
        return MeasurementPlane(
            np.asarray(origin_mm, dtype=float).reshape(3),
            self.normal,
            self.posterior_axis,
            self.superior_axis,
            self.source,
        )

    def to_2d(self, points_mm: ArrayLike) -> NDArray[np.float64]:
        """(posterior, superior) mm of the orthogonal projections of ``points_mm``."""
        d = np.asarray(points_mm, dtype=float) - self.origin_mm
        out = np.empty((*d.shape[:-1], 2))  # what np.stack([...], axis=-1) gives, without its overhead
        out[..., 0] = d @ self.posterior_axis
        out[..., 1] = d @ self.superior_axis
        return out

    def distance_mm(self, points_mm: ArrayLike) -> NDArray[np.float64]:
        """Signed distance of each point from the plane along ``normal``."""
        return (np.asarray(points_mm, dtype=float) - self.origin_mm) @ self.normal


@dataclass(frozen=True)
class ResolvedPlane:
    """Where the landmarks are measured, and what the reader should know about it."""

    plane: MeasurementPlane
    notes: tuple[str, ...]
    #: True when every landmark's image (with its pixel spacing) is known.
    all_images_known: bool


def _fit_normal(points: NDArray[np.float64]) -> NDArray[np.float64] | None:
    """Least-squares plane normal (SVD), or None when the fit is degenerate."""
    centred = points - points.mean(axis=0)
    _, s, vt = np.linalg.svd(centred)
    if s[0] <= 1e-9 or s[1] < COLLINEAR_FRACTION * s[0] or s[2] > NON_PLANAR_FRACTION * s[1]:
        return None
    return np.asarray(vt[2], dtype=float)


def resolve_plane(
    landmarks: Mapping[str, Landmark],
    planes: Mapping[str, ImagePlane],
    keys: Sequence[str],
    context: str,
) -> ResolvedPlane:
    """Find the common plane of ``landmarks[keys]`` (see the module docstring).

    Parameters
    ----------
    landmarks
        Landmarks by key; all of ``keys`` must be present.
    planes
        ``series_uid -> ImagePlane`` of the images used; may be empty or partial.
    keys
        Which landmarks take part (their order is kept in messages).
    context
        How to name the landmarks in messages, e.g. ``"L1"``.

    The plane passes through the mean of the points, with the image normal when known
    (the points are orthogonally projected onto it: landmarks on parallel slices at
    different offsets end up in one plane), else the fitted normal, else patient sagittal.

    Raises
    ------
    ValueError
        When known images are not parallel (normals > 1 deg apart), naming the
        landmarks and the angle, or when the plane is too far from sagittal.
    """
    points = np.array([landmarks[k].array for k in keys])
    origin = points.mean(axis=0)
    notes: list[str] = []

    known = [(k, planes[landmarks[k].series_uid]) for k in keys if landmarks[k].series_uid in planes]
    unknown = [k for k in keys if landmarks[k].series_uid not in planes]

    if known:
        first_key, first_plane = known[0]
        reference = first_plane.normal
        for key, image in known[1:]:
            if image == first_plane:
                continue  # the same image plane: 0 deg exactly (u x u = 0), nothing to compute
            angle = angle_between_normals_deg(reference, image.normal)
            if angle > MAX_PLANE_ANGLE_DEG:
                same = [
                    k
                    for k, p in known
                    if angle_between_normals_deg(reference, p.normal) <= MAX_PLANE_ANGLE_DEG
                ]
                other = [
                    k
                    for k, p in known
                    if k not in same
                    and angle_between_normals_deg(image.normal, p.normal) <= MAX_PLANE_ANGLE_DEG
                ]
                raise ValueError(
                    f"{context}: landmarks {', '.join(same)} (series {landmarks[first_key].series_uid}) "
                    f"and {', '.join(other)} (series {landmarks[key].series_uid}) were placed on images "
                    f"that are not parallel (their planes differ by {angle:.1f} deg); expected all "
                    f"landmarks on one image or on parallel slices (within {MAX_PLANE_ANGLE_DEG:g} deg)."
                )
        # Sign-aligned mean of the (nearly equal) normals: symmetric in the landmarks.
        normals = np.array([p.normal for _, p in known])
        normals *= np.sign(normals @ reference)[:, None]
        normal = normals.mean(axis=0)
        source: PlaneSource = "image"
        if unknown:
            notes.append(
                f"{context}: the image of landmarks {', '.join(unknown)} is unknown; they were "
                "assumed to lie on slices parallel to the others."
            )
    else:
        fitted = _fit_normal(points)
        if fitted is None:
            normal = LEFT_LPS.copy()
            source = "sagittal"
            notes.append(
                f"{context}: the image plane of the landmarks is unknown and the points do not "
                "define a plane (nearly collinear or not coplanar); measured in the patient "
                "sagittal plane."
            )
        else:
            normal = fitted
            source = "fitted"
            notes.append(
                f"{context}: the image plane of the landmarks is unknown; measured in the plane "
                "fitted through the points."
            )

    plane = MeasurementPlane.from_normal(normal, origin, source, context=f"{context} landmarks")
    off_plane = np.abs(plane.distance_mm(points))
    if float(off_plane.max()) > _OFF_PLANE_NOTE_MM:
        notes.append(
            f"{context}: landmarks lie up to {float(off_plane.max()):.2f} mm off the common plane "
            "(parallel slices or a fitted plane); they were projected onto it."
        )
    return ResolvedPlane(plane=plane, notes=tuple(notes), all_images_known=not unknown)

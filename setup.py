"""siamtrack: real-time Siamese visual object trackers.

The repository root is the ``siamtrack`` package: ``models/``, ``tracker/``,
``runner/`` and ``benchmarks/`` install as ``siamtrack.models`` etc., so no
generic top-level module lands in site-packages.
"""

import sys

from setuptools import Extension, setup

SUBPACKAGES = [
    "models", "models.backbones", "models.necks", "models.heads",
    "tracker", "runner", "benchmarks",
    "benchmarks.datasets", "benchmarks.measures", "benchmarks.protocols",
]

# Small CPU kernels (convolutions on channels-last maps, see models/csrc/kernels.c). Optional: without a C compiler
# the install still succeeds and siamtrack.models.fastops falls back to torch's own operators. FMA contraction on
# (the AVX2 clone's multiply-adds); -Wno-psabi: the 8-float vector helpers are always inlined, no ABI is involved.
UNIX_FLAGS = ["-O3", "-std=c11", "-ffp-contract=fast", "-fopenmp", "-Wno-psabi"]
KERNELS = Extension(
    "siamtrack.models._kernels",
    sources=["models/csrc/kernels.c"],
    # OpenMP: the kernels share torch's OpenMP runtime (libgomp.so.1, already loaded by torch) and thread count.
    extra_compile_args=[] if sys.platform == "win32" else UNIX_FLAGS,
    extra_link_args=[] if sys.platform == "win32" else ["-fopenmp"],
    optional=True,
)

setup(
    name="siamtrack",
    version="0.1.0",
    description="Real-time Siamese visual object trackers (SiamFC, SiamRPN, SiamRPN++, SiamMask, NanoTrack)",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    package_dir={"siamtrack": "."},
    packages=["siamtrack"] + [f"siamtrack.{p}" for p in SUBPACKAGES],
    ext_modules=[KERNELS],
    install_requires=[
        "torch",
        "opencv-python",
        "numpy",
        "numba",
        "click",
        "tqdm",
        "got10k",
        "matplotlib",
        "scipy",  # CFNet's MatConvNet .mat networks (scipy.io.loadmat)
        "vot-trax",  # siamtrack trax: TraX server for the VOT toolkit (imported only by that command)
    ],
    extras_require={"test": ["pytest", "pytest-xdist", "shapely", "scipy", "pillow"]},
    entry_points={"console_scripts": ["siamtrack = siamtrack.cli:main"]},
)

"""siamtrack: real-time Siamese visual object trackers.

The repository root is the ``siamtrack`` package: ``models/``, ``tracker/``,
``runner/`` and ``benchmarks/`` install as ``siamtrack.models`` etc., so no
generic top-level module lands in site-packages.
"""

from setuptools import setup

SUBPACKAGES = [
    "models", "models.backbones", "models.necks", "models.heads",
    "backends", "tracker", "runner", "benchmarks",
    "benchmarks.datasets", "benchmarks.measures", "benchmarks.protocols",
]

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
        "onnx",  # torch.onnx.export of the template / search branches (siamtrack.backends.export)
        "openvino",  # --backend openvino (the CPU default)
        "onnxruntime",  # --backend onnxruntime
    ],
    extras_require={"test": ["pytest", "pytest-xdist", "shapely", "scipy", "pillow"]},
    entry_points={"console_scripts": ["siamtrack = siamtrack.cli:main"]},
)

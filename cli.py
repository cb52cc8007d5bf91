"""The ``siamtrack`` command line (click).

``siamtrack run SOURCE --model nanotrack --init x,y,w,h`` tracks a target
through a video file, a folder of frames or a camera; ``siamtrack models``
lists the presets; ``siamtrack weights import FILE --model M`` checks a
checkpoint and copies it into the weights cache. Every input problem is one
line on stderr (``siamtrack: error: ...``) and exit code 2.
"""

from __future__ import annotations

import os
import shutil
import sys

import click

from siamtrack.errors import SiamtrackError

# FFmpeg's own log lines (e.g. "moov atom not found" for a corrupt .mp4) would
# add to the one-line error; read once, when OpenCV first uses FFmpeg.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")


def _fail(err: SiamtrackError):
    click.echo(f"siamtrack: error: {err}", err=True)
    sys.exit(err.exit_code)


class _Group(click.Group):
    """Turns :class:`SiamtrackError` from any command into one stderr line and exit 2."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except SiamtrackError as e:
            _fail(e)


@click.group(cls=_Group)
@click.version_option(package_name="siamtrack")
def main():
    """siamtrack: real-time Siamese visual object trackers."""


@main.command()
@click.argument("source")
@click.option("--model", "-m", default="nanotrack", show_default=True, help="Model preset (see `siamtrack models`).")
@click.option("--weights", type=click.Path(dir_okay=False), help="Checkpoint file (default: $SIAMTRACK_WEIGHTS, then the cache).")
@click.option("--init", "init", metavar="X,Y,W,H", help="Initial target box, 0-based pixels. Without it, draw it with the mouse.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write the frames with box, score and fps (.mp4, .avi, .mkv).")
@click.option("--save-boxes", type=click.Path(dir_okay=False), help="Write one x,y,w,h line per frame (the init box first).")
@click.option("--show/--no-show", default=True, show_default=True, help="Show the tracking window (needs a display).")
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda[:N].")
@click.option("--camera-size", metavar="WxH", help="Requested camera frame size (camera sources).")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True,
              help="CPU threads for the model (torch intra-op). One thread is as fast as two for these small "
                   "per-frame networks and does not collapse when the machine is busy.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def run(source, model, weights, init, output, save_boxes, show, device, camera_size, threads, quiet):
    """Track a target through SOURCE: a video file, a folder of frames, or a camera index."""
    from siamtrack.models.presets import get_preset
    from siamtrack.runner.loop import parse_box, run_tracking
    from siamtrack.runner.sources import open_source

    preset = get_preset(model)  # unknown model: error before anything is opened
    if device != "cpu":  # torch is imported only when needed: bad input fails in a fraction of a second
        from siamtrack.tracker.factory import resolve_device

        resolve_device(device)

    def make_tracker():
        import torch

        from siamtrack.tracker.factory import create_tracker

        torch.set_num_threads(threads)
        return create_tracker(preset["name"], weights=weights, device=device)
    init_box = parse_box(init) if init is not None else None
    size = None
    if camera_size:
        try:
            w, h = (int(v) for v in camera_size.lower().split("x"))
            size = (w, h)
        except ValueError:
            raise SiamtrackError(f"--camera-size {camera_size!r}: expected WxH, e.g. 1280x720") from None
    with open_source(source, camera_size=size) as src:
        summary = run_tracking(
            src,
            make_tracker,
            init_box=init_box, output=output, save_boxes=save_boxes, show=show,
            label=preset["name"], progress=not quiet,
        )
    click.echo(f"siamtrack: {summary.frames} frames, tracker {summary.tracker_fps:.1f} fps, "
               f"overall {summary.wall_fps:.1f} fps ({preset['name']} on {device})")


@main.command()
def models():
    """List the model presets, their reference and whether their weights are found."""
    from siamtrack.models.presets import ALIASES, PRESETS, get_preset
    from siamtrack.models.weights import resolve_weights

    aliases = {v: k for k, v in ALIASES.items()}
    for name in sorted(PRESETS):
        preset = get_preset(name)
        try:
            found = str(resolve_weights(preset))
        except SiamtrackError:
            found = f"missing ({preset['weights']['file']})"
        alias = f" (= {aliases[name]})" if name in aliases else ""
        click.echo(f"{name}{alias}\n    reference: {preset['reference']}\n    weights: {found}")


@main.group()
def weights():
    """Manage the weights cache."""


@weights.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--model", "-m", required=True, help="Preset the checkpoint belongs to.")
def weights_import(file, model):
    """Check FILE by loading it into MODEL, then copy it into the cache under the preset's file name."""
    from siamtrack.models.checkpoint import load_strict, read_state_dict
    from siamtrack.models.presets import get_preset
    from siamtrack.models.siamese import build_model
    from siamtrack.models.weights import cache_dir

    preset = get_preset(model)
    load_strict(build_model(preset["model"]), read_state_dict(file), preset["name"], file)
    dest_dir = cache_dir()
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / preset["weights"]["file"]
    tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
    try:
        shutil.copyfile(file, tmp)
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            tmp.unlink()
    click.echo(f"siamtrack: {file} checked for '{preset['name']}', installed as {dest}")


if __name__ == "__main__":  # pragma: no cover
    main()

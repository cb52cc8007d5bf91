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
    """Runs every command under :func:`~siamtrack.runner.interrupts.handle_signals` and turns
    :class:`SiamtrackError` into one stderr line and exit 2, and a signal that ended a command before it
    could finish (SIGINT, SIGTERM, SIGHUP) into one line and exit ``128 + signal``."""

    def invoke(self, ctx):
        from siamtrack.runner.interrupts import Interrupted, handle_signals

        try:
            with handle_signals():
                return super().invoke(ctx)
        except SiamtrackError as e:
            _fail(e)
        except Interrupted as e:
            click.echo(f"siamtrack: interrupted by {e.name}; finished outputs are kept", err=True)
            sys.exit(e.exit_code)


@click.group(cls=_Group)
@click.version_option(package_name="siamtrack")
def main():
    """siamtrack: real-time Siamese visual object trackers."""


def _backend_options(command):
    """``--backend`` and ``--precision`` (see :mod:`siamtrack.backends`), shared by run, bench and trax."""
    command = click.option("--precision", default="fp32", show_default=True,
                           type=click.Choice(["fp32", "bf16", "fp16"]),
                           help="fp32 (the reference's numbers), bf16 (CPUs with native bf16), fp16 (CUDA).")(command)
    return click.option("--backend", default="auto", show_default=True,
                        type=click.Choice(["auto", "torch", "openvino", "onnxruntime"]),
                        help="What runs the network: auto = OpenVINO on the CPU when installed (else ONNX Runtime, "
                             "else torch), torch on CUDA and for the mask / correlation-filter models.")(command)


@main.command()
@click.argument("source")
@click.option("--model", "-m", default="nanotrack", show_default=True, help="Model preset (see `siamtrack models`).")
@click.option("--weights", type=click.Path(dir_okay=False), help="Checkpoint file (default: $SIAMTRACK_WEIGHTS, then the cache).")
@click.option("--init", "init", metavar="X,Y,W,H", help="Initial target box, 0-based pixels. Without it, draw it with the mouse.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write the frames with box, score and fps (.mp4, .avi, .mkv).")
@click.option("--save-boxes", type=click.Path(dir_okay=False), help="Write one x,y,w,h line per frame (the init box first).")
@click.option("--save-masks", metavar="DIR", help="Mask models (siammask*): write one PNG mask per frame into DIR "
              "(00001.png, ...; 0/255, frame size; frame 1 = the init box). DIR is created (not its parent).")
@click.option("--polygons", is_flag=True, help="Mask models: --save-boxes writes x1,y1,...,x4,y4 rotated boxes.")
@click.option("--show/--no-show", default=True, show_default=True, help="Show the tracking window (needs a display).")
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda[:N].")
@click.option("--camera-size", metavar="WxH", help="Requested camera frame size (camera sources).")
@click.option("--fps", "fps", type=click.FloatRange(min=0, min_open=True),
              help="Camera: frame rate to request. Video or folder with a window: play at most this fast.")
@click.option("--lost-threshold", type=float,
              help="Report the target lost while the score stays below this (default: the preset's).")
@click.option("--snapshot-dir", default=".", show_default=True, type=click.Path(file_okay=False),
              help="Where the `s` key saves PNG snapshots of the window.")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True,
              help="CPU threads for the model (torch intra-op). One thread is as fast as two for these small "
                   "per-frame networks and does not collapse when the machine is busy.")
@click.option("--allow-short", is_flag=True,
              help="A video whose decoding stops before its container's frame count (truncated or corrupt) "
                   "ends with exit 0 instead of 2 (the frames decoded are kept either way).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@_backend_options
def run(source, model, weights, init, output, save_boxes, save_masks, polygons, show, device, camera_size, fps,
        lost_threshold, snapshot_dir, threads, allow_short, quiet, backend, precision):
    """Track a target through SOURCE: a video file, a folder of frames, or a camera index.

    With a window: without --init, drag a box on the first frame (Enter or
    Space confirms, c clears); while tracking, r draws a new target, p
    pauses, s saves a snapshot, q or Esc quits (everything written so far is
    kept). Ctrl-C, SIGTERM and SIGHUP end the run as q does (exit 130 / 143 /
    129). No output may be, or lie inside, an input (source, weights).
    """
    from siamtrack.models.presets import PRESETS, get_preset
    from siamtrack.runner.loop import parse_box, run_tracking
    from siamtrack.runner.sinks import has_display
    from siamtrack.runner.sources import CameraSource, open_source

    preset = get_preset(model)  # unknown model: error before anything is opened
    if (save_masks or polygons) and not preset.get("mask"):
        mask_models = ", ".join(sorted(n for n, p in PRESETS.items() if p.get("mask")))
        raise SiamtrackError(f"--{'save-masks' if save_masks else 'polygons'}: model '{preset['name']}' gives no "
                             f"masks (mask models: {mask_models})")
    if polygons and not save_boxes:
        raise SiamtrackError("--polygons: give --save-boxes FILE too (the polygons are written there)")
    if device != "cpu":  # torch is imported only when needed: bad input fails in a fraction of a second
        from siamtrack.tracker.factory import resolve_device

        resolve_device(device)
    ran = {}

    def make_tracker():
        import torch

        from siamtrack.tracker.factory import create_tracker

        torch.set_num_threads(threads)
        tracker = create_tracker(preset["name"], weights=weights, device=device, backend=backend, precision=precision)
        ran["backend"] = tracker.backend
        if tracker.backend.notice:
            click.echo(f"siamtrack: warning: {tracker.backend.notice}", err=True)
        if lost_threshold is not None:
            tracker.lost_threshold = lost_threshold
        return tracker
    init_box = parse_box(init) if init is not None else None
    _check_run_outputs(source, preset, weights, output, save_boxes, save_masks,
                       snapshot_dir if show and has_display() else None)
    size = None
    if camera_size:
        try:
            w, h = (int(v) for v in camera_size.lower().split("x"))
            size = (w, h)
        except ValueError:
            raise SiamtrackError(f"--camera-size {camera_size!r}: expected WxH, e.g. 1280x720") from None
    with open_source(source, camera_size=size, camera_fps=fps) as src:
        summary = run_tracking(
            src,
            make_tracker,
            init_box=init_box, output=output, save_boxes=save_boxes, show=show,
            label=preset["name"], progress=not quiet, save_masks=save_masks, polygons=polygons,
            pace_fps=None if isinstance(src, CameraSource) else fps, snapshot_dir=snapshot_dir,
        )
    ended = f"; stopped by {summary.interrupted.name}, outputs kept" if summary.interrupted else ""
    click.echo(f"siamtrack: {summary.frames} frames, tracker {summary.tracker_fps:.1f} fps, "
               f"overall {summary.wall_fps:.1f} fps ({preset['name']} on {device}, {ran['backend']}){ended}")
    if summary.interrupted:
        sys.exit(summary.interrupted.exit_code)
    if summary.incomplete:
        if not allow_short:
            _fail(SiamtrackError(f"{summary.incomplete}; the {summary.frames} frames decoded are kept "
                                 f"(--allow-short accepts such a video)"))
        click.echo(f"siamtrack: warning: {summary.incomplete}", err=True)


def _check_run_outputs(source, preset, weights, output, save_boxes, save_masks, snapshot_dir):
    """``siamtrack run``'s outputs against its inputs (:func:`siamtrack.runner.protect.check_outputs`),
    before any frame is read. ``snapshot_dir`` (given only when a window will be shown) is checked against
    the inputs only: other outputs may lie in it."""
    from siamtrack.models.weights import resolve_weights
    from siamtrack.runner.protect import check_outputs
    from siamtrack.runner.sources import is_camera_index

    inputs = []
    if not is_camera_index(source):  # a camera index is no path
        inputs.append(("the input folder" if os.path.isdir(source) else "the input video", source))
    try:
        inputs.append(("the weights file", str(resolve_weights(preset, weights))))
    except SiamtrackError:  # missing weights: reported when the model loads, after the frame and box checks
        pass
    check_outputs([("--output", output), ("--save-boxes", save_boxes), ("--save-masks", save_masks)], inputs)
    check_outputs([("--snapshot-dir", snapshot_dir)], inputs)


class _Cpu:
    type = "cpu"


_CPU = _Cpu()  # resolve_backend only reads device.type: `siamtrack models` stays free of a torch import


@main.command()
def models():
    """List the model presets, their reference and whether their weights are found."""
    from siamtrack.models.presets import ALIASES, PRESETS, get_preset
    from siamtrack.models.weights import resolve_weights

    from siamtrack.backends import resolve_backend
    from siamtrack.backends.runtimes import runtime_available

    aliases = {v: k for k, v in ALIASES.items()}
    installed = [b for b in ("openvino", "onnxruntime") if runtime_available(b)]
    for name in sorted(PRESETS):
        preset = get_preset(name)
        try:
            found = str(resolve_weights(preset))
        except SiamtrackError:
            found = f"missing ({preset['weights']['file']})"
        alias = f" (= {aliases[name]})" if name in aliases else ""
        backends = ["torch"] + installed
        auto = resolve_backend("auto", _CPU, preset)
        click.echo(f"{name}{alias}\n    reference: {preset['reference']}\n    weights: {found}\n"
                   f"    backends: {', '.join(backends)} (auto on cpu: {auto}; precision fp32, bf16 where the CPU "
                   f"has it)")


@main.group()
def weights():
    """Manage the weights cache."""


@weights.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--model", "-m", required=True, help="Preset the checkpoint belongs to.")
def weights_import(file, model):
    """Check FILE by loading it into MODEL, then copy it into the cache under the preset's file name."""
    from siamtrack.models.presets import get_preset
    from siamtrack.models.weights import cache_dir, cache_file_name
    from siamtrack.tracker.factory import load_weights

    from siamtrack.runner.atomic import atomic_path

    preset = get_preset(model)
    load_weights(preset, file, companions=False)
    dest_dir = cache_dir()
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / cache_file_name(preset, file)
    with atomic_path(str(dest)) as tmp:
        try:
            shutil.copyfile(file, tmp)
        except OSError as e:
            raise SiamtrackError(f"{dest}: cannot write ({e.strerror or e})") from None
    click.echo(f"siamtrack: {file} checked for '{preset['name']}', installed as {dest}")


@main.command()
@click.option("--dataset", "-d", required=True,
              help="otb (any OTB-layout folder), otb2013, otb2015, vot2016, vot2017, vot2018, got10k(-val), "
                   "got10k-test, davis2016.")
@click.option("--root", required=True, type=click.Path(file_okay=False), help="The dataset's local folder.")
@click.option("--model", "-m", default="nanotrack", show_default=True,
              help="Comma-separated presets to run, or existing result folders (paths or names) to score.")
@click.option("--weights", type=click.Path(dir_okay=False), help="Checkpoint for the (single) preset.")
@click.option("--name", help="Results folder name for the (single) preset (default: the preset's name).")
@click.option("--results-dir", default="results", show_default=True, type=click.Path(file_okay=False),
              help="Results go to DIR/<dataset>/<tracker>/ in the toolkits' layouts.")
@click.option("--report-dir", type=click.Path(file_okay=False), help="JSON report and plots (default: RESULTS_DIR/reports).")
@click.option("--experiment", type=click.Choice(["baseline", "unsupervised"]), default="baseline", show_default=True,
              help="VOT experiment.")
@click.option("--resume", is_flag=True, help="Keep finished result files; run only what is missing.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Sequences run in parallel processes (same results for any N).")
@click.option("--sequences", help="Comma-separated subset of the dataset's sequences.")
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda[:N].")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True, help="torch threads per process.")
@click.option("--mask-threshold", type=float, help="DAVIS: threshold of probability masks (default: the preset's).")
@click.option("--no-plots", is_flag=True, help="Do not write PNG plots.")
@click.option("--verbose", "-v", is_flag=True, help="Also one table row per sequence.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
@_backend_options
def bench(dataset, root, model, weights, name, results_dir, report_dir, experiment, resume, workers, sequences,
          device, threads, mask_threshold, no_plots, verbose, quiet, backend, precision):
    """Run trackers on a benchmark dataset and print its measures (AUC / precision, A / R / EAO, AO / SR, J / F)."""
    from siamtrack.benchmarks.suite import run_benchmark

    run_benchmark(dataset, root, [m.strip() for m in model.split(",") if m.strip()], weights=weights, name=name,
                  results_dir=results_dir, report_dir=report_dir, experiment=experiment, resume=resume,
                  workers=workers, device=device, threads=threads, backend=backend, precision=precision,
                  sequences=[s.strip() for s in sequences.split(",") if s.strip()] if sequences else None,
                  verbose=verbose, progress=not quiet, plots=not no_plots, mask_threshold=mask_threshold,
                  echo=click.echo)


@main.command()
@click.option("--model", "-m", required=True, help="Model preset (see `siamtrack models`).")
@click.option("--weights", type=click.Path(dir_okay=False), help="Checkpoint file (default: $SIAMTRACK_WEIGHTS, then the cache).")
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda[:N].")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True, help="torch threads.")
@click.option("--log", "trax_log", type=click.Path(dir_okay=False), help="Write the TraX protocol log to this file.")
@_backend_options
def trax(model, weights, device, threads, trax_log, backend, precision):
    """TraX server for the VOT toolkit: rectangle / polygon regions (mask for mask models), images as paths.

    Started by the toolkit (see `siamtrack vot-workspace`); each answer carries the property `confidence`.
    Bad input (unknown model, missing weights, no vot-trax) fails before the TraX handshake.
    """
    from siamtrack.models.presets import get_preset
    from siamtrack.models.weights import resolve_weights
    from siamtrack.runner.trax_server import import_trax, serve

    from siamtrack.runner.protect import check_outputs

    preset = get_preset(model)
    path = resolve_weights(preset, weights)  # missing weights: error before torch is imported
    check_outputs([("--log", trax_log)], [("the weights file", str(path))])
    import_trax()
    import torch

    from siamtrack.tracker.factory import create_tracker

    torch.set_num_threads(threads)
    tracker = create_tracker(preset["name"], weights=path, device=device, backend=backend, precision=precision)
    serve(tracker, mask=bool(preset.get("mask")), name=f"siamtrack {preset['name']}", log=trax_log)


@main.command("export")
@click.option("--model", "-m", required=True, help="Model preset (see `siamtrack models`).")
@click.option("--weights", type=click.Path(dir_okay=False), help="Checkpoint file (default: $SIAMTRACK_WEIGHTS, then the cache).")
@click.option("--out", "out", required=True, type=click.Path(), help="Folder the graphs and the sidecar go to.")
@click.option("--batch", type=click.IntRange(min=1), default=1, show_default=True, help="Targets per call (N).")
@click.option("--opset", type=click.IntRange(min=11), default=17, show_default=True, help="ONNX opset.")
@click.option("--opencv", is_flag=True, help="NanoTrack: also the backbone / head pair cv2.TrackerNano loads; "
              "DaSiamRPN (siamrpn, siamrpn-otb): the model / kernel_cls1 / kernel_r1 files of cv2.TrackerDaSiamRPN.")
def export(model, weights, out, batch, opset, opencv):
    """Export MODEL's template and search graphs to ONNX (template.onnx, search.onnx, siamtrack-export.json)."""
    from siamtrack.backends.package import export_preset

    for path in export_preset(model, out, weights=weights, batch=batch, opset=opset, opencv=opencv):
        click.echo(f"siamtrack: wrote {path}")


@main.command("vot-workspace")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--stack", default="vot2018", show_default=True, help="vot2016, vot2017 or vot2018 (baseline experiment).")
@click.option("--sequences", "sequences_root", required=True, type=click.Path(),
              help="VOT dataset folder (list.txt + sequence folders), linked into DIRECTORY/sequences.")
@click.option("--model", "-m", default="nanotrack", show_default=True, help="Preset, or comma-separated presets.")
@click.option("--weights", type=click.Path(dir_okay=False), help="Checkpoint for the (single) preset.")
@click.option("--subset", help="Comma-separated subset of the sequences.")
def vot_workspace(directory, stack, sequences_root, model, weights, subset):
    """Write a VOT-toolkit workspace in DIRECTORY: config.yaml, the stack, trackers.ini, sequences/ (links)."""
    from siamtrack.benchmarks.vot_workspace import write_workspace

    out = write_workspace(directory, stack, sequences_root, [m.strip() for m in model.split(",") if m.strip()],
                          weights=weights, sequences=[s.strip() for s in subset.split(",") if s.strip()] if subset else None)
    click.echo(f"siamtrack: VOT workspace {out['workspace']} ({stack}, {len(out['sequences'])} sequences), "
               f"trackers: {', '.join(out['trackers'])}")
    click.echo(f"  PYTHONPATH={out['workspace']} VOT_RESULTS_BINARY=false vot evaluate --workspace {out['workspace']} "
               f"{' '.join(out['trackers'])}")


if __name__ == "__main__":  # pragma: no cover
    main()

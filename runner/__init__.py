"""Frame sources (image folders, video files, cameras) and sinks (box files, videos, windows)."""

"""Model building blocks: xcorr core, backbones, necks, heads, presets and checkpoint loading."""

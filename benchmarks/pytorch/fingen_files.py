"""What fingen writes and reads, in plain Python (no numpy or torch): safetensors checkpoints and the MNIST CSV.

parity.py turns these into torch tensors; everything here can be checked on a machine without torch
(`python3 fingen_files.py CHECKPOINT` prints a checkpoint's metadata and tensors).
"""
import csv
import gzip
import json
import math
import struct
import sys

_FLOAT32 = struct.Struct("<f")


class Checkpoint:
    """A safetensors file: `metadata` (str -> str), `shapes` (name -> list), and the raw bytes of each tensor."""

    def __init__(self, path):
        with open(path, "rb") as f:
            blob = f.read()
        (header_length,) = struct.unpack_from("<Q", blob, 0)
        header = json.loads(blob[8:8 + header_length].decode("utf-8"))
        self.path = path
        self.metadata = header.pop("__metadata__", {})
        self.shapes, self._bytes = {}, {}
        data = memoryview(blob)[8 + header_length:]
        for name, entry in header.items():
            if entry["dtype"] != "F32":
                raise ValueError(f"{path}: tensor {name} is {entry['dtype']}, fingen writes only F32")
            begin, end = entry["data_offsets"]
            if end - begin != 4 * math.prod(entry["shape"]):
                raise ValueError(f"{path}: tensor {name} has {end - begin} bytes for shape {entry['shape']}")
            self.shapes[name] = entry["shape"]
            self._bytes[name] = data[begin:end]

    def raw(self, name):
        """The tensor's little-endian float32 bytes (for torch.frombuffer)."""
        return self._bytes[name]

    def values(self, name):
        """The tensor as a flat list of floats (slow; for checks)."""
        return [v for (v,) in _FLOAT32.iter_unpack(self._bytes[name])]

    def number(self, key):
        """An integer of fingen's metadata, e.g. number("rng.noise_offset")."""
        return int(self.metadata["fingen." + key])

    def config(self):
        """The model config (snake_case JSON, as ModelConfig.ToJson writes it)."""
        return json.loads(self.metadata["fingen.config"])


def mnist_pixels(path):
    """The images of an MNIST CSV (gzip or plain) as a list of bytes objects, one per image, values 0..255.

    fingen scales a pixel by 1/255 in float32; i/255 in double rounded to float32 gives the same float for all
    256 values (no double-rounding case), so a lookup table of i/255 reproduces fingen's pixels exactly.
    """
    opener = gzip.open if open(path, "rb").read(2) == b"\x1f\x8b" else open
    with opener(path, "rt", newline="") as f:
        rows = csv.reader(f)
        header = next(rows)
        first = 2 if len(header) > 1 and header[1] == "index_in_digit" else 1
        return [bytes(int(v) for v in row[first:]) for row in rows if row]


def main(paths):
    for path in paths:
        checkpoint = Checkpoint(path)
        print(f"{path}: step {checkpoint.number('step')}, noise offset {checkpoint.number('rng.noise_offset')}, "
              f"batch offset {checkpoint.number('rng.batch_offset')}, model {checkpoint.config()['model']}")
        for name, shape in checkpoint.shapes.items():
            values = checkpoint.values(name)
            print(f"  {name:45s} {str(shape):18s} mean {sum(values) / len(values): .6f}")


if __name__ == "__main__":
    main(sys.argv[1:])

"""Writes the small seed corpora of the fuzz targets into fuzz/corpus/<target>/ (committed;
rerun only to change them). Each seed is a valid input, or one with a typical defect, in the
form its target takes (see the target's first byte conventions)."""
import gzip
import io
import json
import os
import struct
import sys
import zlib

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def put(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def idx(dims, data):
    return bytes([0, 0, 8, len(dims)]) + b"".join(struct.pack(">I", x) for x in dims) + bytes(data)


def png(w, h, gray_rows):
    def chunk(t, body):
        return struct.pack(">I", len(body)) + t + body + struct.pack(">I", zlib.crc32(t + body))
    raw = b"".join(b"\0" + bytes(gray_rows[y * w:(y + 1) * w]) for y in range(h))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def bmp(w, h):
    row = (w * 3 + 3) // 4 * 4
    pixels = bytes(row * h)
    header = b"BM" + struct.pack("<IHHI", 54 + len(pixels), 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, len(pixels), 2835, 2835, 0, 0)
    return header + info + pixels


def main():
    images = idx([2, 4, 3], range(24))
    put("idx", "raw-images", b"\0" + images)
    put("idx", "gzip-images", b"\1" + images)
    put("idx", "raw-labels", b"\0" + idx([3], [1, 2, 3]))
    put("idx", "truncated", b"\0" + images[:-3])
    record = bytes([3]) + bytes(range(256)) * 12
    put("cifar", "cifar10-two-records", record * 2)
    put("cifar", "cifar100-one-record", bytes([1]) + record)
    put("cifar", "bad-label", bytes([200]) + record[1:])
    image = bytes(range(256)) * 108  # 27648 bytes: one 96x96x3 STL-10 image
    put("stl10", "one-image-one-label", bytes([1]) + image + bytes([4]))
    put("stl10", "label-out-of-range", bytes([1]) + image + bytes([11]))
    put("image", "png-gray", bytes([1]) + png(5, 4, list(range(20))))
    put("image", "png-as-jpg", bytes([0]) + png(3, 3, [9] * 9))
    put("image", "bmp", bytes([2]) + bmp(4, 2))
    put("image", "pgm", bytes([6]) + b"P5\n3 2\n255\n" + bytes(range(6)))
    put("predictions", "with-labels", b"index,cluster,label\n0,1,2\n1,0,1\n2,1,2\n")
    put("predictions", "paths",
        b"path,cluster,confidence,top3\n\"a,b.png\",3,0.9,3;1;2\nc.png,1,0.5,1;3;2\n")
    put("predictions", "no-header", b"1,2\n3,4\n")
    put("config", "full", json.dumps({"dataset": "fashion-mnist", "width": 16, "depth": 34,
                                      "views": "2x28@0.2-1,4x14@0.05-0.5", "lr": 0.001,
                                      "selflabel_steps": 10}).encode())
    put("config", "unknown-key", b'{"widht": 3}')
    put("config", "wrong-type", b'{"width": "wide"}')
    # Checkpoints and embeddings: PyTorch zip archives written by dcacn; pass them as arguments.
    for target, path in zip(("checkpoint", "embeddings"), sys.argv[1:3]):
        with open(path, "rb") as f:
            put(target, os.path.basename(path), f.read())


if __name__ == "__main__":
    main()

# Generates this case with OpenCV's own cv2.resize(INTER_LINEAR) (Debian python3-opencv 4.6, numpy 1.24):
#   /usr/bin/python3 make.py
# The inputs are a closed form (below and in the test), so only the outputs are stored, gzipped raw RGB.
import gzip, json
import cv2
import numpy as np

def image(w, h):
    y, x = np.mgrid[0:h, 0:w]
    chans = [(x * 7 + y * 13 + c * 29 + (x * y) % 17 + ((x // 5 + y // 3) % 2) * 90) % 256 for c in range(3)]
    return np.stack(chans, axis=-1).astype(np.uint8)

def letterbox(w, h, side=256):
    # mmcv Resize(keep_ratio=True) to (256, 256): the long side to 256, the other int(x * s + 0.5)
    s = min(side / w, side / h)
    return int(w * s + 0.5), int(h * s + 0.5)

cases = []
for w, h in [(640, 480), (300, 500), (37, 23), (512, 512), (1000, 750), (255, 97), (6000, 4000)]:
    ow, oh = letterbox(w, h)
    out = cv2.resize(image(w, h), (ow, oh), interpolation=cv2.INTER_LINEAR)
    name = f"out_{w}x{h}.rgb.gz"
    with gzip.open(name, "wb", compresslevel=9) as f:
        f.write(out.tobytes())
    cases.append({"in": [w, h], "out": [ow, oh], "file": name})
json.dump({"kind": "cv2_resize", "opencv": cv2.__version__, "numpy": np.__version__, "cases": cases}, open("manifest.json", "w"), indent=1)

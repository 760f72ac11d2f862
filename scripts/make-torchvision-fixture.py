#!/usr/bin/python3
"""Writes tests/fixtures/torchvision/: what torchvision's ResNets compute with weights given by a
formula that tests/model/test_pretrained.cpp computes too, so that the test compares dcacn's
backbone loaded with those weights against torchvision's without Python at run time.

  /usr/bin/python3 scripts/make-torchvision-fixture.py   (needs python3-torchvision)

outputs.pt: {"resnet18_rgb", "resnet34_rgb", "resnet50_rgb": [2, D] pooled features of the
formula's RGB input, "resnet34_gray": [2, 512] of the grey input repeated over RGB}.
resnet18_part.pth: the formula's resnet18 state dict cut down to the stem and the classifier's
bias, saved as torch.save(model.state_dict()) saves it (an OrderedDict with its _metadata), for
the reader.
"""
import math
import os

import torch
import torchvision

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures",
                   "torchvision")


def formula(name, shape, dtype):
    """The value of every tensor of a state dict, from its name and shape alone."""
    if name.endswith("num_batches_tracked"):
        return torch.tensor(0, dtype=dtype)
    numel = 1
    for s in shape:
        numel *= s
    phase = (sum(ord(c) for c in name) % 997) * 0.001
    s = torch.sin(0.37 * torch.arange(numel, dtype=torch.float64) + phase).reshape(shape)
    if name.endswith("running_var"):
        v = 1 + 0.2 * s
    elif name.endswith("running_mean") or name.endswith("bias"):
        v = 0.1 * s
    elif len(shape) == 1:  # BatchNorm weight
        v = 1 + 0.1 * s
    else:  # convolution or linear weight: He-like scale
        v = s * math.sqrt(2.0 / (numel // shape[0]))
    return v.to(dtype)


def formula_model(arch):
    model = getattr(torchvision.models, arch)()
    state = model.state_dict()
    model.load_state_dict({k: formula(k, tuple(v.shape), v.dtype) for k, v in state.items()})
    return model.eval()


def formula_input(channels):
    i = torch.arange(2 * channels * 64 * 64, dtype=torch.float64)
    return torch.sin(0.05 * i).reshape(2, channels, 64, 64).to(torch.float32)


def features(model, x):
    m = model
    with torch.no_grad():
        x = m.maxpool(m.relu(m.bn1(m.conv1(x))))
        x = m.layer4(m.layer3(m.layer2(m.layer1(x))))
        return torch.flatten(m.avgpool(x), 1)


def main():
    os.makedirs(OUT, exist_ok=True)
    out = {}
    for arch in ("resnet18", "resnet34", "resnet50"):
        out[arch + "_rgb"] = features(formula_model(arch), formula_input(3))
    out["resnet34_gray"] = features(formula_model("resnet34"), formula_input(1).repeat(1, 3, 1, 1))
    torch.save(out, os.path.join(OUT, "outputs.pt"))
    # The state dict itself, cut down: it keeps the attribute torch.save writes with it
    # (_metadata, OrderedDicts of one-item dicts).
    state = formula_model("resnet18").state_dict()
    for k in list(state):
        if not (k.startswith("conv1.") or k.startswith("bn1.") or k == "fc.bias"):
            del state[k]
    assert hasattr(state, "_metadata")
    torch.save(state, os.path.join(OUT, "resnet18_part.pth"))


if __name__ == "__main__":
    main()

"""DCACN written in Python PyTorch, layer for layer as the C++ library builds it (same module
names, so a state dict saved by `dcacn` loads here with strict=True). Used by the benchmarks
to compare against the C++ implementation; not part of the product."""
import torch
from torch import nn
import torch.nn.functional as F


class ChannelGate(nn.Module):
    def __init__(self, channels, reduction=16, min_hidden=4):
        super().__init__()
        hidden = min(channels, max(channels // reduction, min_hidden))
        self.mlp = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(),
                                 nn.Linear(hidden, channels))

    def forward(self, x):
        mask = torch.sigmoid(self.mlp(x.mean((2, 3))) + self.mlp(x.amax((2, 3))))
        return x * mask[:, :, None, None]


class SpatialGate(nn.Module):
    def __init__(self, kernel_size=7):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)
        self.bn = nn.BatchNorm2d(1)

    def forward(self, x):
        pooled = torch.cat([x.amax(1, keepdim=True), x.mean(1, keepdim=True)], 1)
        return x * torch.sigmoid(self.bn(self.conv(pooled)))


class CBAM(nn.Module):
    def __init__(self, channels, reduction=16, min_hidden=4):
        super().__init__()
        self.channel_gate = ChannelGate(channels, reduction, min_hidden)
        self.spatial_gate = SpatialGate()

    def forward(self, x):
        return self.spatial_gate(self.channel_gate(x))


def conv(cin, cout, k, stride):
    return nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin, planes, stride, attention):
        super().__init__()
        self.conv1 = conv(cin, planes, 3, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv(planes, planes, 3, 1)
        self.bn2 = nn.BatchNorm2d(planes)
        if attention:
            self.cbam = CBAM(planes)
        if stride != 1 or cin != planes:
            self.downsample = nn.Sequential(conv(cin, planes, 1, stride), nn.BatchNorm2d(planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if hasattr(self, "cbam"):
            out = self.cbam(out)
        return F.relu(out + (self.downsample(x) if hasattr(self, "downsample") else x))


class ResNet(nn.Module):
    def __init__(self, depth=34, in_channels=3, width=64, stem="cifar", attention=True):
        super().__init__()
        assert depth in (18, 34), "the Python twin covers the BasicBlock depths"
        if stem == "imagenet":
            self.conv1 = conv(in_channels, width, 7, 2)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
        else:
            self.conv1 = conv(in_channels, width, 3, 1)
        self.bn1 = nn.BatchNorm2d(width)
        blocks = [2, 2, 2, 2] if depth == 18 else [3, 4, 6, 3]
        cin = width
        for i, (n, mult) in enumerate(zip(blocks, [1, 2, 4, 8])):
            layers = []
            for b in range(n):
                layers.append(BasicBlock(cin, width * mult, (1 if i == 0 else 2) if b == 0 else 1,
                                         attention))
                cin = width * mult
            setattr(self, f"layer{i + 1}", nn.Sequential(*layers))
        self.feature_dim = cin
        for name, m in self.named_modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 0.0 if "spatial_gate" in name else 1.0)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        if hasattr(self, "maxpool"):
            out = self.maxpool(out)
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        return out.mean((2, 3))


class Head(nn.Module):
    def __init__(self, d, out):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, out))

    def forward(self, z):
        return self.mlp(z)


class DCACN(nn.Module):
    def __init__(self, depth=34, in_channels=3, width=64, stem="cifar", attention=True,
                 clusters=10, embedding_dim=128):
        super().__init__()
        self.backbone = ResNet(depth, in_channels, width, stem, attention)
        d = self.backbone.feature_dim
        self.instance_head = Head(d, embedding_dim)
        self.cluster_head = Head(d, clusters)

    def forward(self, x):
        z = self.backbone(x)
        return z, F.normalize(self.instance_head(z), dim=1), torch.softmax(self.cluster_head(z), 1)

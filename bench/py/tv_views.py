"""The torchvision view pipeline that users of the official Contrastive Clustering code run
(on PIL images): the Python side of the augmentation and quality benchmarks."""
from torchvision import transforms as T


def view(size, scale, s=0.5, blur=False):
    """RandomResizedCrop, flip, ColorJitter(0.8s, 0.8s, 0.8s, 0.2s) with p 0.8, grayscale p 0.2,
    Gaussian blur with p 0.5 when `blur`, ToTensor."""
    steps = [T.RandomResizedCrop(size, scale=scale), T.RandomHorizontalFlip(),
             T.RandomApply([T.ColorJitter(0.8 * s, 0.8 * s, 0.8 * s, 0.2 * s)], p=0.8),
             T.RandomGrayscale(p=0.2)]
    if blur:
        steps.append(T.RandomApply([T.GaussianBlur(3, (0.1, 2.0))], p=0.5))
    steps.append(T.ToTensor())
    return T.Compose(steps)

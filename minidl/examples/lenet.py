"""PyTorch's "Training a classifier" tutorial (LeNet on CIFAR-10), written as the tutorial writes it.

Only the imports differ from PyTorch's program (``import minidl as torch``, ``import minidl.vision as
torchvision``, ...; docs/vision-lenet.md shows the two side by side), and the data: CIFAR-10 is on no
package registry, so by default the network sees Fashion-MNIST made to look like CIFAR-10, each 28x28
grey image padded to 32x32 and turned into 3 equal channels by two more transforms:

    transforms.Pad(2), transforms.Grayscale(num_output_channels=3), transforms.ToTensor(), transforms.Normalize(...)

The network, the loss, SGD(lr=0.001, momentum=0.9), batches of 4, 2 epochs and DataLoader(num_workers=2)
are the tutorial's. Expected: about 86% test accuracy on Fashion-MNIST after 2 epochs (the tutorial reports
~55% on CIFAR-10, a much harder task). With CIFAR-10's binary version at hand, ``--cifar-root DIR`` runs the
tutorial's own data lines:

    python -m minidl.examples lenet [--epochs 2] [--limit N] [--test-limit N] [--cifar-root DIR]
"""

from __future__ import annotations

import argparse
import time

import minidl as torch
import minidl.nn as nn
import minidl.nn.functional as F
import minidl.optim as optim
import minidl.vision as torchvision
import minidl.vision.transforms as transforms


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = torch.flatten(x, 1)  # flatten all dimensions except batch
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        x = self.fc3(x)
        return x


def data(args):
    """The training and test sets: the tutorial's CIFAR-10 lines, or Fashion-MNIST made 3x32x32."""
    if args.cifar_root:
        transform = transforms.Compose(
            [transforms.ToTensor(),
             transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))])
        trainset = torchvision.datasets.CIFAR10(root=args.cifar_root, train=True, download=True, transform=transform)
        testset = torchvision.datasets.CIFAR10(root=args.cifar_root, train=False, download=True, transform=transform)
        classes = ('plane', 'car', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck')
        return trainset, testset, classes, "CIFAR-10"
    transform = transforms.Compose(
        [transforms.Pad(2),                            # 28x28 -> 32x32, as CIFAR-10
         transforms.Grayscale(num_output_channels=3),  # grey -> 3 equal channels, as CIFAR-10's RGB
         transforms.ToTensor(),
         transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))])
    trainset = torchvision.datasets.FashionMNIST(root=args.root, train=True, download=True, transform=transform)
    testset = torchvision.datasets.FashionMNIST(root=args.root, train=False, download=True, transform=transform)
    return trainset, testset, tuple(trainset.classes), "Fashion-MNIST (3x32x32)"


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(prog="python -m minidl.examples lenet", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2, help="DataLoader(num_workers=...)")
    parser.add_argument("--root", default=None, help="data folder (default: minidl's cache, $MINIDL_DATA)")
    parser.add_argument("--cifar-root", default=None, help="a folder holding CIFAR-10's binary version")
    parser.add_argument("--limit", type=int, default=None, help="train on the first N images only (smoke tests)")
    parser.add_argument("--test-limit", type=int, default=None, help="test on the first N images only")
    parser.add_argument("--print-every", type=int, default=2000, help="mini-batches per printed loss")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    torch.manual_seed(args.seed)

    trainset, testset, classes, name = data(args)
    if args.limit:
        trainset = torch.utils.data.Subset(trainset, range(args.limit))
    if args.test_limit:
        testset = torch.utils.data.Subset(testset, range(args.test_limit))
    print(f"{name}: {len(trainset)} training and {len(testset)} test images")
    batch_size = args.batch_size
    trainloader = torch.utils.data.DataLoader(trainset, batch_size=batch_size, shuffle=True,
                                              num_workers=args.workers)
    testloader = torch.utils.data.DataLoader(testset, batch_size=batch_size, shuffle=False,
                                             num_workers=args.workers)

    net = Net()
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.SGD(net.parameters(), lr=0.001, momentum=0.9)

    t_train, losses, every = time.perf_counter(), [], args.print_every
    for epoch in range(args.epochs):  # loop over the dataset multiple times
        running_loss = 0.0
        for i, data_ in enumerate(trainloader, 0):
            # get the inputs; data is a list of [inputs, labels]
            inputs, labels = data_

            # zero the parameter gradients
            optimizer.zero_grad()

            # forward + backward + optimize
            outputs = net(inputs)
            loss = criterion(outputs, labels)
            loss.backward()
            optimizer.step()

            # print statistics
            running_loss += loss.item()
            if i % every == every - 1:  # print every 2000 mini-batches
                losses.append(running_loss / every)
                print(f'[{epoch + 1}, {i + 1:5d}] loss: {losses[-1]:.3f} ({time.perf_counter() - t_train:.0f} s)')
                running_loss = 0.0
    train_seconds = time.perf_counter() - t_train
    print('Finished Training')

    correct = 0
    total = 0
    correct_pred = {classname: 0 for classname in classes}
    total_pred = {classname: 0 for classname in classes}
    # since we're not training, we don't need to calculate the gradients for our outputs
    with torch.no_grad():
        for data_ in testloader:
            images, labels = data_
            outputs = net(images)
            # the class with the highest energy is chosen as prediction
            _, predicted = torch.max(outputs.data, 1)
            total += labels.size(0)
            correct += (predicted == labels).sum().item()
            for label, prediction in zip(labels, predicted):
                if label == prediction:
                    correct_pred[classes[label]] += 1
                total_pred[classes[label]] += 1

    print(f'Accuracy of the network on the {total} test images: {100 * correct // total} %')
    for classname, correct_count in correct_pred.items():
        accuracy = 100 * float(correct_count) / max(total_pred[classname], 1)
        print(f'Accuracy for class: {classname:5s} is {accuracy:.1f} %')
    print(f"test accuracy: {correct / total:.4f} after {args.epochs} epochs "
          f"({train_seconds:.1f} s training, {time.perf_counter() - t0:.1f} s in all)")
    return {"test_accuracy": correct / total, "first_loss": losses[0] if losses else float("nan"),
            "last_loss": losses[-1] if losses else float("nan"), "train_seconds": train_seconds}


if __name__ == "__main__":
    main()

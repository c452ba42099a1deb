"""Modules a user would write in a file of their own (importable, so `gk.load` can rebuild them)."""
from torch import nn


class SmallNet(nn.Module):
    """An image classifier whose constructor arguments live on the instance."""

    def __init__(self, hidden: int, classes: int = 10) -> None:
        super().__init__()
        self.hidden, self.classes = hidden, classes
        self.net = nn.Sequential(nn.Flatten(), nn.LazyLinear(hidden), nn.ReLU(), nn.Linear(hidden, classes))

    def forward(self, x):
        return self.net(x)


class Opaque(nn.Module):
    """A module whose constructor argument gradkit cannot read back (it keeps no `width`)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.layer = nn.Sequential(nn.Flatten(), nn.LazyLinear(width))

    def forward(self, x):
        return self.layer(x)


class TinyVAE(nn.Module):
    """The articles' VAE: returns (reconstruction logits, mu, logvar), z drawn inside."""

    def __init__(self, latent: int = 4, pixels: int = 64) -> None:
        super().__init__()
        self.latent, self.pixels = latent, pixels
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(pixels, 64), nn.ReLU(), nn.Linear(64, 2 * latent))
        side = int(pixels ** 0.5)
        self.decoder = nn.Sequential(nn.Linear(latent, 64), nn.ReLU(), nn.Linear(64, pixels),
                                     nn.Unflatten(1, (1, side, side)))

    def forward(self, x):
        import torch

        mu, logvar = self.encoder(x).chunk(2, 1)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        return self.decoder(z), mu, logvar


class CharLSTM(nn.Module):
    """Token ids (B, L) -> next-character logits (B, L, vocab)."""

    def __init__(self, vocab: int, hidden: int = 64) -> None:
        super().__init__()
        self.vocab, self.hidden = vocab, hidden
        self.embed = nn.Embedding(vocab, 32)
        self.rnn = nn.LSTM(32, hidden, batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, ids):
        return self.head(self.rnn(self.embed(ids))[0])

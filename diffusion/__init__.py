"""The torch side of Latent Loom: loading, text encoding, sampling. Usable without the graph."""

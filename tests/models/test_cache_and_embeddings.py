"""Model cache (LRU by file fingerprint, free) and textual-inversion file formats."""

import torch
from safetensors.torch import save_file

from diffusion.models.cache import ModelCache
from diffusion.text.embeddings import load_embedding


def test_cache_lru_eviction_and_free(tmp_path):
    paths = []
    for i in range(3):
        path = tmp_path / f"m{i}.safetensors"
        save_file({"w": torch.full((4,), float(i))}, str(path))
        paths.append(path)
    loads = []

    def load(path):
        loads.append(path.name)
        return torch.nn.Linear(4, 4)

    cache = ModelCache(max_items=2)
    a = cache.get("x", paths[0], load)
    assert cache.get("x", paths[0], load) is a and loads == ["m0.safetensors"]
    cache.get("x", paths[1], load)
    cache.get("x", paths[0], load)  # m0 is now the most recent
    cache.get("x", paths[2], load)  # evicts m1, the least recent
    assert len(cache) == 2
    cache.get("x", paths[0], load)
    assert loads == ["m0.safetensors", "m1.safetensors", "m2.safetensors"]
    cache.get("x", paths[1], load)
    assert loads[-1] == "m1.safetensors"
    assert cache.bytes_used == 2 * (16 + 4) * 4
    cache.free()
    assert len(cache) == 0


def test_cache_frees_and_retries_once_on_out_of_memory(tmp_path):
    path = tmp_path / "m.safetensors"
    save_file({"w": torch.zeros(1)}, str(path))
    cache = ModelCache()
    cache.get("x", tmp_path / "m.safetensors", lambda p: torch.nn.Linear(1, 1), "other")
    attempts = []

    def load(_):
        attempts.append(1)
        if len(attempts) == 1:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return torch.nn.Linear(1, 1)

    cache.get("x", path, load)
    assert len(attempts) == 2 and len(cache) == 1  # the other entry was freed before the retry


def test_embedding_formats(tmp_path):
    l_vectors, g_vectors = torch.randn(2, 32), torch.randn(2, 48)
    save_file({"clip_l": l_vectors, "clip_g": g_vectors}, str(tmp_path / "xl.safetensors"))
    assert torch.equal(load_embedding(tmp_path / "xl.safetensors", "clip_l", 32), l_vectors)
    assert torch.equal(load_embedding(tmp_path / "xl.safetensors", "clip_g", 48), g_vectors)
    old = {"string_to_param": {"*": torch.randn(3, 32)}, "name": "old"}
    torch.save(old, tmp_path / "old.pt")
    assert torch.equal(load_embedding(tmp_path / "old.pt", "clip_l", 32), old["string_to_param"]["*"])
    assert load_embedding(tmp_path / "old.pt", "clip_g", 1280) is None  # wrong width: skipped


def test_models_and_outputs_share_one_budget_that_holds(tmp_path):
    from graph.cache import OutputCache
    from graph.memory import HOST, MemoryGovernor

    governor = MemoryGovernor({HOST: 200_000})
    models = ModelCache(governor=governor)
    outputs = OutputCache(governor=governor)
    paths = []
    for i in range(6):
        path = tmp_path / f"m{i}.safetensors"
        save_file({"w": torch.full((4,), float(i))}, str(path))
        paths.append(path)
    loaded = 0
    for i, path in enumerate(paths):
        module = models.get("x", path, lambda p: torch.nn.Linear(100, 100))  # 40,400 bytes of weights
        loaded += 40_400
        assert isinstance(module, torch.nn.Linear)
        outputs.put(f"latent{i}", (torch.zeros(5_000),), cost_seconds=0.001)  # 20,000 bytes
        loaded += 20_000
        assert governor.used(HOST) <= 200_000
        assert governor.used(HOST) == models.bytes_used + outputs.total_bytes
    assert loaded > 200_000 and len(models) >= 1

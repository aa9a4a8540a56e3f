"""GPU readings from NVML, for a load generator (or the gpu-agent) on the GPU host.

NVML is what ``nvidia-smi`` reads; nvidia-ml-py (``import pynvml``) binds it.
Everything NVML answers goes through the module object handed in as
``nvml=`` (the real ``pynvml`` by default), so tests replay recorded readings
through a fake module, the way prometheus_client's process collector reads
recorded ``/proc`` files.

What can go wrong, and what becomes of it:

* the package is missing, the shared library is missing (no driver), the
  driver is not loaded, NVML finds no GPU: :class:`SourceUnavailable` with one
  line that says which, so the sampler warns once and the test goes on;
* one call fails on one GPU (power not supported on a vGPU, per-process
  memory hidden in a container): that metric is skipped for that GPU and
  noted as a *gap*; the other readings are still returned.

``nvmlInit`` runs once, on the first read; :meth:`NvmlSource.close` calls
``nvmlShutdown``. The calls block (tens to hundreds of microseconds each, more
on a busy driver), so the Locust glue runs ``read`` in a thread pool.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from locust_ml.telemetry.model import SourceReading, SourceUnavailable, TelemetrySample

__all__ = ["GpuDevice", "NvmlSource", "load_nvml"]

# NVML error codes (nvml.h); read from the module when it has them.
_LIBRARY_NOT_FOUND: Final = 12
_DRIVER_NOT_LOADED: Final = 9
_NO_PERMISSION: Final = 4
_NOT_SUPPORTED: Final = 3
_FUNCTION_NOT_FOUND: Final = 13
_GPU_IS_LOST: Final = 15


def load_nvml() -> Any:
    """Import ``pynvml`` (nvidia-ml-py), or raise :class:`SourceUnavailable`."""
    try:
        import pynvml
    except ImportError:
        raise SourceUnavailable(
            "nvidia-ml-py is not installed (pip install 'locust-ml[gpu]')"
        ) from None
    return pynvml


def _code(nvml: Any, name: str, default: int) -> int:
    value = getattr(nvml, name, default)
    return value if isinstance(value, int) else default


def _error_code(exc: BaseException) -> int | None:
    value = getattr(exc, "value", None)
    return value if isinstance(value, int) else None


def _init_reason(nvml: Any, exc: BaseException) -> str:
    """One line for a failed ``nvmlInit``."""
    code = _error_code(exc)
    if code == _code(nvml, "NVML_ERROR_LIBRARY_NOT_FOUND", _LIBRARY_NOT_FOUND):
        return "NVML library not found (libnvidia-ml.so): no NVIDIA driver on this host"
    if code == _code(nvml, "NVML_ERROR_DRIVER_NOT_LOADED", _DRIVER_NOT_LOADED):
        return "the NVIDIA driver is not loaded (does nvidia-smi work here?)"
    if code == _code(nvml, "NVML_ERROR_NO_PERMISSION", _NO_PERMISSION):
        return "no permission to use NVML (is /dev/nvidiactl readable by this user?)"
    return f"NVML could not start: {_describe(exc)}"


def _describe(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _call_reason(nvml: Any, exc: BaseException) -> str:
    """A short reason for a failed per-device call ("not supported", ...)."""
    code = _error_code(exc)
    if code == _code(nvml, "NVML_ERROR_NOT_SUPPORTED", _NOT_SUPPORTED):
        return "not supported"
    if code == _code(nvml, "NVML_ERROR_FUNCTION_NOT_FOUND", _FUNCTION_NOT_FOUND):
        return "not available in this driver"
    if code == _code(nvml, "NVML_ERROR_NO_PERMISSION", _NO_PERMISSION):
        return "no permission"
    if code == _code(nvml, "NVML_ERROR_GPU_IS_LOST", _GPU_IS_LOST):
        return "GPU is lost"
    return f"failed: {_describe(exc)}"


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


@dataclass(frozen=True)
class GpuDevice:
    """One GPU as NVML numbers and names it."""

    index: int
    uuid: str
    name: str
    handle: Any

    @property
    def labels(self) -> dict[str, str]:
        return {"gpu": str(self.index), "uuid": self.uuid, "name": self.name}

    def describe(self) -> str:
        return f"gpu {self.index} ({self.name})"


Values = list[tuple[str, float]]


def _utilization(nvml: Any, handle: Any) -> Values:
    rates = nvml.nvmlDeviceGetUtilizationRates(handle)
    return [
        ("gpu_utilization_ratio", rates.gpu / 100.0),
        ("gpu_memory_utilization_ratio", rates.memory / 100.0),
    ]


def _memory(nvml: Any, handle: Any) -> Values:
    info = nvml.nvmlDeviceGetMemoryInfo(handle)
    return [
        ("gpu_memory_used_bytes", float(info.used)),
        ("gpu_memory_free_bytes", float(info.free)),
        ("gpu_memory_total_bytes", float(info.total)),
    ]


def _power(nvml: Any, handle: Any) -> Values:
    return [("gpu_power_watts", nvml.nvmlDeviceGetPowerUsage(handle) / 1000.0)]  # mW


def _power_limit(nvml: Any, handle: Any) -> Values:
    return [("gpu_power_limit_watts", nvml.nvmlDeviceGetEnforcedPowerLimit(handle) / 1000.0)]


def _energy(nvml: Any, handle: Any) -> Values:
    # mJ since the driver loaded (Volta and later).
    return [("gpu_energy_joules_total", nvml.nvmlDeviceGetTotalEnergyConsumption(handle) / 1000.0)]


def _temperature(nvml: Any, handle: Any) -> Values:
    sensor = getattr(nvml, "NVML_TEMPERATURE_GPU", 0)
    return [("gpu_temperature_celsius", float(nvml.nvmlDeviceGetTemperature(handle, sensor)))]


def _sm_clock(nvml: Any, handle: Any) -> Values:
    clock = getattr(nvml, "NVML_CLOCK_SM", 1)
    return [("gpu_sm_clock_hertz", nvml.nvmlDeviceGetClockInfo(handle, clock) * 1e6)]  # MHz


#: What is read from each GPU: (what, the call). One NVML call per row; a row
#: whose call fails is skipped for that GPU and noted as a gap.
DEVICE_READINGS: Final[Sequence[tuple[str, Callable[[Any, Any], Values]]]] = (
    ("utilization", _utilization),
    ("memory", _memory),
    ("power", _power),
    ("power limit", _power_limit),
    ("energy", _energy),
    ("temperature", _temperature),
    ("SM clock", _sm_clock),
)


class NvmlSource:
    """Per-GPU readings from NVML as canonical :class:`TelemetrySample` s.

    ``NvmlSource()`` uses the installed ``pynvml``; tests pass ``nvml=`` a fake
    module that replays recorded readings. ``processes=True`` also reads per-process device memory
    (``nvmlDeviceGetComputeRunningProcesses``); inside a container NVML often
    cannot see other PID namespaces' processes, which becomes a gap.
    """

    def __init__(
        self, nvml: Any | None = None, *, name: str = "nvml", processes: bool = True
    ) -> None:
        self._nvml = nvml
        self._name = name
        self._processes = processes
        self._initialized = False
        self._devices: tuple[GpuDevice, ...] | None = None
        self.driver_version: str | None = None

    @property
    def name(self) -> str:
        return self._name

    def _module(self) -> Any:
        if self._nvml is None:
            self._nvml = load_nvml()
        return self._nvml

    def _init(self) -> Any:
        nvml = self._module()
        if not self._initialized:
            try:
                nvml.nvmlInit()
            except Exception as exc:  # NVMLError or an OSError from ctypes
                raise SourceUnavailable(_init_reason(nvml, exc)) from None
            self._initialized = True
            try:
                self.driver_version = _text(nvml.nvmlSystemGetDriverVersion())
            except Exception:  # informational only
                self.driver_version = None
        return nvml

    def devices(self) -> tuple[GpuDevice, ...]:
        """The GPUs NVML sees (initializing NVML); raises :class:`SourceUnavailable`."""
        nvml = self._init()
        if self._devices is None:
            try:
                count = int(nvml.nvmlDeviceGetCount())
            except Exception as exc:
                raise SourceUnavailable(
                    f"NVML could not count GPUs: {_call_reason(nvml, exc)}"
                ) from None
            if count == 0:
                raise SourceUnavailable("NVML found no GPU on this host")
            found = []
            for index in range(count):
                try:
                    handle = nvml.nvmlDeviceGetHandleByIndex(index)
                    uuid = _text(nvml.nvmlDeviceGetUUID(handle))
                    name = _text(nvml.nvmlDeviceGetName(handle))
                except Exception as exc:
                    raise SourceUnavailable(
                        f"NVML could not open gpu {index}: {_call_reason(nvml, exc)}"
                    ) from None
                found.append(GpuDevice(index, uuid, name, handle))
            self._devices = tuple(found)
        return self._devices

    def read(self, timestamp: float) -> SourceReading:
        nvml = self._init()
        samples: list[TelemetrySample] = []
        gaps: list[str] = []
        for device in self.devices():
            labels = device.labels
            for what, call in DEVICE_READINGS:
                try:
                    values = call(nvml, device.handle)
                except Exception as exc:
                    gaps.append(f"{device.describe()}: {what} {_call_reason(nvml, exc)}")
                    continue
                samples.extend(
                    TelemetrySample.of(timestamp, self._name, metric, value, **labels)
                    for metric, value in values
                )
            if self._processes:
                samples.extend(self._process_memory(nvml, device, timestamp, gaps))
        if not samples:
            raise SourceUnavailable("NVML answered no reading: " + "; ".join(gaps))
        return SourceReading(samples, tuple(gaps))

    def _process_memory(
        self, nvml: Any, device: GpuDevice, timestamp: float, gaps: list[str]
    ) -> list[TelemetrySample]:
        try:
            procs = nvml.nvmlDeviceGetComputeRunningProcesses(device.handle)
        except Exception as exc:
            gaps.append(f"{device.describe()}: per-process memory {_call_reason(nvml, exc)}")
            return []
        out = []
        hidden = False
        for proc in procs:
            used = getattr(proc, "usedGpuMemory", None)
            if used is None:
                hidden = True
                continue
            out.append(
                TelemetrySample.of(
                    timestamp,
                    self._name,
                    "gpu_process_memory_used_bytes",
                    float(used),
                    pid=str(proc.pid),
                    **device.labels,
                )
            )
        if hidden:
            gaps.append(f"{device.describe()}: per-process memory hidden for some processes")
        return out

    def close(self) -> None:
        if self._initialized:
            self._initialized = False
            self._devices = None
            try:
                self._module().nvmlShutdown()
            except Exception:  # shutting down: nothing useful to do with it
                return

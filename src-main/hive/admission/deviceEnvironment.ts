import type { DeviceInfo } from '../../../src-shared/cluster/HiveInfo.js';

/**
 * The environment that confines a worker to one GPU, for the backend node-llama-cpp runs:
 * - CUDA honours `CUDA_VISIBLE_DEVICES` (the index as nvidia-smi numbers them; HardwareProbe uses the
 *   same order and sets CUDA_DEVICE_ORDER=PCI_BUS_ID so both agree);
 * - llama.cpp's Vulkan backend honours `GGML_VK_VISIBLE_DEVICES`;
 * - Metal has one device: nothing to set.
 * The variable must be set before the backend initialises, so a pinned worker is started fresh,
 * never handed to a warm standby that already loaded its backend.
 */
export function deviceEnvironment(backend: DeviceInfo['type'], gpuIndex: number): Record<string, string> {
  switch (backend) {
    case 'cuda':
      return { CUDA_DEVICE_ORDER: 'PCI_BUS_ID', CUDA_VISIBLE_DEVICES: String(gpuIndex) };
    case 'vulkan':
      return { GGML_VK_VISIBLE_DEVICES: String(gpuIndex) };
    case 'metal':
    case 'cpu':
      return {};
  }
}

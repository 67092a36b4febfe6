// SPDX-License-Identifier: Apache-2.0
#pragma once
// A Mamba-1 or Mamba-2 language model in fp32 on the CPU. forward() consumes
// a chunk of tokens from an explicit ModelState: the batched prefill and the
// one-token decode step are the same call with T > 1 and T == 1.
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "core/device/bind.h"
#include "core/model/mamba_state.h"
#include "core/model/mamba_weights.h"
#include "core/io/model_config.h"
#include "core/kernels/thread_pool.h"

namespace sm {

class ActivationTap;

class MambaModel {
 public:
  // Reads DIR/config.json and DIR/*.safetensors.
  static std::unique_ptr<MambaModel> load(const std::string& dir);
  static std::unique_ptr<MambaModel> from_store(ModelConfig cfg, TensorStore store,
                                                const std::string& where);
  ~MambaModel();

  const ModelConfig& config() const { return cfg_; }
  const ModelWeights& weights() const { return *w_; }
  const std::string& where() const { return where_; }
  int32_t vocab_size() const { return cfg_.vocab_size; }

  ModelState new_state() const;
  size_t state_bytes() const;

  void set_threads(int n);
  int threads() const { return pool_->size(); }
  ThreadPool& pool() { return *pool_; }

  enum class Logits { None, Last, All };
  // Consumes `tokens` (ids checked against the vocabulary), advancing `state`.
  // Logits::Last writes [V] for the last token, Logits::All writes [T][V].
  void forward(std::span<const int32_t> tokens, ModelState& state, float* logits,
               Logits mode = Logits::Last);
  void decode(int32_t token, ModelState& state, float* logits) {
    forward(std::span<const int32_t>(&token, 1), state, logits, Logits::Last);
  }

  // Tokens per internal prefill chunk (bounds workspace memory).
  void set_chunk(int64_t n) { chunk_ = n > 0 ? n : 1; }

  void check_token(int32_t id) const;

  // Runs the model's quantized ops on `dev` from now on (core/device/bind.h;
  // sm::Error for an fp32 model or a layer the device refuses, the model then
  // staying on the CPU). Before any TreeForward is made over this model.
  device::BindReport use_device(std::shared_ptr<device::Device> dev) {
    return device::bind_device(*w_, cfg_, std::move(dev));
  }
  // The bound device, or null (the CPU kernels).
  device::Device* device() const { return w_->device.get(); }

  // Attaches an observer of the forward's intermediate tensors (not owned;
  // nullptr detaches). Never while a forward runs. Without a tap the forward
  // pays one pointer test per op; the tap never changes the numerics.
  void set_tap(ActivationTap* tap) { tap_ = tap; }
  ActivationTap* tap() const { return tap_; }

 private:
  MambaModel() = default;
  void forward_chunk(const int32_t* tokens, int64_t T, ModelState& state, float* logits,
                     Logits mode);
  void mixer_mamba1(int layer, int64_t T, LayerState& st);
  void mixer_mamba2(int layer, int64_t T, LayerState& st);
  float* buf(int slot, size_t n);
  // Hands a tensor of the current layer to the tap if it wants this layer.
  void tap_tensor(const char* name, int64_t T, int64_t cols, const float* data, int64_t ld) {
    if (layer_tap_) tap_tensor_slow(name, T, cols, data, ld);
  }
  void tap_tensor_slow(const char* name, int64_t T, int64_t cols, const float* data, int64_t ld);
  // Runs fn over [0, n) on the pool when `work` (rough flop count) is worth it.
  void parallel(int64_t work, int64_t n, int64_t align,
                const std::function<void(int64_t, int64_t)>& fn);

  ModelConfig cfg_;
  std::unique_ptr<ModelWeights> w_;
  std::string where_;
  std::unique_ptr<ThreadPool> pool_;
  int64_t chunk_ = 256;
  std::mutex mu_;  // one forward at a time: the workspace is shared
  std::vector<std::vector<float>> ws_;
  ActivationTap* tap_ = nullptr;
  ActivationTap* layer_tap_ = nullptr;  // tap_ while it wants the current layer and batch
  int tap_layer_ = 0;
  int64_t tap_first_ = 0;  // state position of the current batch's first token
};

}  // namespace sm

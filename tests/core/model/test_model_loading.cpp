// SPDX-License-Identifier: Apache-2.0
// Loading real layouts and rejecting broken checkpoints with a message that
// names the file and the problem.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <filesystem>
#include <fstream>

#include "core/io/error.h"
#include "core/model/mamba_model.h"
#include "core/model/random_model.h"
#include "core/io/safetensors.h"

namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("sm_load_" + std::to_string(::getpid()) + "_" +
                                        std::to_string(counter()++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  static int& counter() {
    static int c = 0;
    return c;
  }
};

// Copies a checkpoint's tensors through `edit`, then rewrites it.
void rewrite(const fs::path& dir, const std::function<void(std::vector<sm::TensorToWrite>&)>& edit) {
  std::vector<sm::TensorToWrite> out;
  {
    auto store = sm::TensorStore::open_dir(dir.string());
    for (const auto& name : store.names()) {
      const sm::TensorInfo* t = store.find(name);
      sm::TensorToWrite w;
      w.name = name;
      w.dtype = t->dtype_str;
      w.shape = t->shape;
      w.bytes.assign(t->data, t->data + t->nbytes);
      out.push_back(std::move(w));
    }
  }
  edit(out);
  sm::write_safetensors((dir / "model.safetensors").string(), out);
}

std::string load_error(const fs::path& dir) {
  try {
    sm::MambaModel::load(dir.string());
  } catch (const sm::Error& e) {
    return e.what();
  }
  return "";
}

class BrokenCheckpoint : public ::testing::TestWithParam<const char*> {};

TEST(ModelLoading, RandomModelsOfBothArchitecturesLoadAndRun) {
  for (const char* shape : {"tiny-mamba1", "tiny-mamba2"}) {
    TempDir d;
    sm::write_random_model(d.path.string(), sm::random_model_preset(shape));
    auto m = sm::MambaModel::load(d.path.string());
    std::vector<float> logits(m->vocab_size());
    sm::ModelState st = m->new_state();
    m->decode(5, st, logits.data());
    for (float v : logits) ASSERT_TRUE(std::isfinite(v)) << shape;
    EXPECT_EQ(st.position, 1);
    EXPECT_GT(m->weights().parameter_count, 0);
  }
}

TEST(ModelLoading, MissingTensorIsNamed) {
  TempDir d;
  sm::write_random_model(d.path.string(), sm::random_model_preset("tiny-mamba2"));
  rewrite(d.path, [](auto& ts) {
    std::erase_if(ts, [](const auto& t) { return t.name == "backbone.layers.1.mixer.D"; });
  });
  const std::string e = load_error(d.path);
  EXPECT_NE(e.find("missing tensor 'backbone.layers.1.mixer.D'"), std::string::npos) << e;
}

TEST(ModelLoading, ExtraTensorIsNamed) {
  TempDir d;
  sm::write_random_model(d.path.string(), sm::random_model_preset("tiny-mamba1"));
  rewrite(d.path, [](auto& ts) {
    sm::TensorToWrite t;
    t.name = "backbone.layers.0.mixer.surprise";
    t.shape = {2};
    t.bytes.resize(8);
    ts.push_back(t);
  });
  const std::string e = load_error(d.path);
  EXPECT_NE(e.find("unexpected tensor"), std::string::npos) << e;
  EXPECT_NE(e.find("backbone.layers.0.mixer.surprise"), std::string::npos) << e;
}

TEST(ModelLoading, MisshapenTensorIsNamedWithBothShapes) {
  TempDir d;
  sm::write_random_model(d.path.string(), sm::random_model_preset("tiny-mamba1"));
  rewrite(d.path, [](auto& ts) {
    for (auto& t : ts)
      if (t.name == "backbone.norm_f.weight") {
        t.shape = {32};
        t.bytes.resize(32 * 4);
      }
  });
  const std::string e = load_error(d.path);
  EXPECT_NE(e.find("model.safetensors"), std::string::npos) << e;
  EXPECT_NE(e.find("'backbone.norm_f.weight' has shape [32], expected [64]"), std::string::npos) << e;
}

TEST(ModelLoading, UnsupportedDtypeIsNamed) {
  TempDir d;
  sm::write_random_model(d.path.string(), sm::random_model_preset("tiny-mamba2"));
  rewrite(d.path, [](auto& ts) {
    for (auto& t : ts)
      if (t.name == "backbone.layers.0.mixer.D") t.dtype = "I32";
  });
  const std::string e = load_error(d.path);
  EXPECT_NE(e.find("backbone.layers.0.mixer.D"), std::string::npos) << e;
  EXPECT_NE(e.find("I32"), std::string::npos) << e;
}

TEST(ModelLoading, TruncatedFileIsReported) {
  TempDir d;
  sm::write_random_model(d.path.string(), sm::random_model_preset("tiny-mamba1"));
  const fs::path f = d.path / "model.safetensors";
  fs::resize_file(f, fs::file_size(f) - 100);
  const std::string e = load_error(d.path);
  EXPECT_NE(e.find("model.safetensors"), std::string::npos) << e;
}

TEST(ModelLoading, MissingDirectoryAndConfig) {
  EXPECT_NE(load_error("/nonexistent/model").find("/nonexistent/model"), std::string::npos);
  TempDir d;
  sm::write_random_model(d.path.string(), sm::random_model_preset("tiny-mamba1"));
  fs::remove(d.path / "config.json");
  EXPECT_NE(load_error(d.path).find("config.json"), std::string::npos);
}

TEST(ModelLoading, UnknownArchitectureIsRejected) {
  TempDir d;
  sm::write_random_model(d.path.string(), sm::random_model_preset("tiny-mamba1"));
  std::ofstream(d.path / "config.json") << R"({"model_type": "llama", "hidden_size": 64})";
  const std::string e = load_error(d.path);
  EXPECT_NE(e.find("llama"), std::string::npos) << e;
}

TEST(ModelLoading, TokenIdsOutsideVocabularyAreRejected) {
  TempDir d;
  sm::write_random_model(d.path.string(), sm::random_model_preset("tiny-mamba1"));
  auto m = sm::MambaModel::load(d.path.string());
  sm::ModelState st = m->new_state();
  std::vector<float> logits(m->vocab_size());
  std::vector<int32_t> ids = {1, 2, 256};
  try {
    m->forward(ids, st, logits.data());
    FAIL() << "no error";
  } catch (const sm::Error& e) {
    EXPECT_NE(std::string(e.what()).find("token id 256 is outside the vocabulary"), std::string::npos) << e.what();
  }
  EXPECT_EQ(st.position, 0) << "a rejected call must not advance the state";
}

TEST(ModelLoading, TwoThreadsGiveTheSameLogitsAsOne) {
  TempDir d;
  sm::write_random_model(d.path.string(), sm::random_model_preset("tiny-mamba2"));
  auto m = sm::MambaModel::load(d.path.string());
  std::vector<int32_t> ids = {3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5};
  std::vector<float> a(m->vocab_size()), b(m->vocab_size());
  sm::ModelState s1 = m->new_state(), s2 = m->new_state();
  m->forward(ids, s1, a.data());
  m->set_threads(2);
  m->forward(ids, s2, b.data());
  for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], 1e-4);
}

}  // namespace

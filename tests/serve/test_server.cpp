// The review page's server, in process on a free loopback port: its answers, the hostile
// requests it refuses, edits from many threads at once, and the file it keeps.

#include <httplib.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "../test_util.h"
#include "dcacn/io/predictions.h"
#include "dcacn/serve/server.h"

namespace dcacn {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

constexpr int64_t kImages = 40;

// 40 images in 4 model clusters of 10 (image i in cluster i / 10), labels i % 2, features that
// put each cluster's images in two tight groups (i % 2), so that a split with k = 2 separates
// the even images from the odd ones.
ServeData forty_images() {
  ServeData d;
  d.title = "test run";
  d.images = torch::arange(kImages * 4 * 4, torch::kInt64)
                 .remainder(256)
                 .to(torch::kUInt8)
                 .view({kImages, 1, 4, 4});
  d.labels = torch::arange(kImages) % 2;
  d.class_names = {"even", "odd"};
  const torch::Tensor cluster = torch::arange(kImages).div(10, "floor");
  d.probabilities = torch::full({kImages, 4}, 0.1f);
  for (int64_t i = 0; i < kImages; ++i) d.probabilities[i][cluster[i]] = 0.7f - 0.001f * i;
  d.features = torch::zeros({kImages, 8});
  for (int64_t i = 0; i < kImages; ++i) {
    d.features[i][cluster[i].item<int64_t>() * 2 + i % 2] = 1.0f;
    d.features[i][7] = 0.01f * i;
  }
  return d;
}

Curation base_curation() {
  std::vector<int64_t> base;
  for (int64_t i = 0; i < kImages; ++i) base.push_back(i / 10);
  return Curation(base, 4, {{"step", 1}});
}

class ServerTest : public test::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    fs::create_directories(path("report"));
    std::ofstream(path("report/curves.png")) << "not really a png";
    std::ofstream(path("secret.txt")) << "never served";
    ServeData d = forty_images();
    d.figures["curves.png"] = path("report/curves.png");
    ServerOptions o;
    o.port = 0;
    o.curation_file = path("curation.json");
    o.max_body = 4096;
    server_ = std::make_unique<CurationServer>(std::move(d), base_curation(), o);
    port_ = server_->bind();
    thread_ = std::thread([this] { server_->listen(); });
  }
  void TearDown() override {
    server_->stop();
    thread_.join();
    server_.reset();
    TempDirTest::TearDown();
  }
  httplib::Client client() const { return httplib::Client("127.0.0.1", port_); }
  // Status and parsed body of a GET or POST.
  std::pair<int, json> get(const std::string& url) const {
    auto res = client().Get(url.c_str());
    EXPECT_TRUE(res) << url;
    return {res->status, json::parse(res->body, nullptr, false)};
  }
  std::pair<int, json> post(const std::string& body) const {
    auto res = client().Post("/api/edit", body, "application/json");
    EXPECT_TRUE(res) << body;
    return {res->status, json::parse(res->body, nullptr, false)};
  }

  std::unique_ptr<CurationServer> server_;
  std::thread thread_;
  int port_ = 0;
};

TEST_F(ServerTest, ThePageAndTheStateAreServed) {
  auto page = client().Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_NE(page->body.find("<script src=\"/app.js\">"), std::string::npos);
  EXPECT_EQ(client().Get("/app.js")->status, 200);
  EXPECT_EQ(client().Get("/style.css")->status, 200);
  const auto [status, state] = get("/api/state");
  EXPECT_EQ(status, 200);
  EXPECT_EQ(state["images"], kImages);
  EXPECT_EQ(state["clusters"].size(), 4u);
  EXPECT_EQ(state["clusters"][2]["size"], 10);
  EXPECT_DOUBLE_EQ(state["clusters"][2]["purity"].get<double>(), 0.5);
  EXPECT_EQ(state["figures"], json::array({"curves.png"}));
}

TEST_F(ServerTest, AClusterPageListsTheMostConfidentFirst) {
  const auto [status, page] = get("/api/cluster?id=1&page=1&per=4");
  EXPECT_EQ(status, 200);
  EXPECT_EQ(page["size"], 10);
  EXPECT_EQ(page["pages"], 3);
  // Confidence falls with the index: page 1 of 4 per page holds images 14..17.
  std::vector<int64_t> shown;
  for (const json& im : page["images"]) shown.push_back(im["index"]);
  EXPECT_EQ(shown, (std::vector<int64_t>{14, 15, 16, 17}));
}

TEST_F(ServerTest, AnImagesNeighboursAreTheClosestInFeatures) {
  const auto [status, d] = get("/api/image?index=4&neighbours=4");
  EXPECT_EQ(status, 200);
  EXPECT_EQ(d["cluster"], 0);
  EXPECT_EQ(d["label"], 0);
  ASSERT_EQ(d["neighbours"].size(), 4u);
  // The even images of cluster 0 nearest to image 4 along the last feature: 2 and 6, then 0 and 8.
  std::set<int64_t> first{d["neighbours"][0]["index"].get<int64_t>(),
                          d["neighbours"][1]["index"].get<int64_t>()};
  EXPECT_EQ(first, (std::set<int64_t>{2, 6}));
  auto thumb = client().Get("/thumb?index=4");
  ASSERT_TRUE(thumb);
  EXPECT_EQ(thumb->status, 200);
  EXPECT_EQ(thumb->body.substr(1, 3), "PNG");
}

TEST_F(ServerTest, HostileRequestsGetAnErrorAndChangeNothing) {
  const std::vector<std::pair<std::string, int>> gets = {
      {"/thumb?index=../../etc/passwd", 400},
      {"/thumb?index=%2e%2e%2fsecret.txt", 400},
      {"/thumb?index=-1", 400},
      {"/thumb?index=40", 400},
      {"/thumb?index=99999999999999999999999", 400},
      {"/thumb", 400},
      {"/figure?name=../secret.txt", 404},
      {"/figure?name=..%2Fsecret.txt", 404},
      {"/figure?name=%2Fetc%2Fpasswd", 404},
      {"/api/cluster?id=../1", 400},
      {"/api/cluster?id=7", 404},
      {"/api/cluster?id=1&per=100000", 400},
      {"/api/image?index=1e3", 400},
      {"/../secret.txt", 404},
      {"/report/curves.png", 404},
      {"/secret.txt", 404},
  };
  for (const auto& [url, expected] : gets) {
    const auto [status, body] = get(url);
    EXPECT_EQ(status, expected) << url;
    EXPECT_TRUE(body.contains("error")) << url << " " << body.dump();
  }
  const std::vector<std::pair<std::string, int>> posts = {
      {"{not json", 400},
      {"[1, 2]", 400},
      {R"({"op": "explode"})", 400},
      {R"({"op": "rename", "cluster": 9, "name": "x"})", 404},
      {R"({"op": "rename", "cluster": "1", "name": "x"})", 400},
      {R"({"op": "move", "images": [0, 400], "to": 1})", 400},
      {R"({"op": "move", "images": ["../secret.txt"], "to": 1})", 400},
      {R"({"op": "merge", "clusters": [1], "into": 1})", 400},
      {R"({"op": "split", "cluster": 1, "k": 11})", 400},
      {R"({"op": "split", "cluster": 1, "k": 1})", 400},
      {R"({"op": "undo"})", 409},
      {R"({"op": "rename", "cluster": 1, "name": ")" + std::string(5000, 'a') + "\"}", 413},
  };
  for (const auto& [body, expected] : posts) {
    const auto [status, answer] = post(body);
    EXPECT_EQ(status, expected) << body.substr(0, 80);
    EXPECT_TRUE(answer.contains("error")) << body.substr(0, 80);
  }
  EXPECT_EQ(server_->curation().version(), 0);
  EXPECT_FALSE(fs::exists(path("curation.json")));
  // Nothing but the curation file is ever written: the folder holds what the test put there.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 2);
}

TEST_F(ServerTest, EditsAreSavedAndTheExportShowsThem) {
  EXPECT_EQ(post(R"({"op": "rename", "cluster": 0, "name": "zero"})").first, 200);
  EXPECT_EQ(post(R"({"op": "merge", "clusters": [3], "into": 2})").first, 200);
  const auto [split_status, split] = post(R"({"op": "split", "cluster": 1, "k": 2})");
  EXPECT_EQ(split_status, 200) << split.dump();
  EXPECT_EQ(post(R"({"op": "move", "images": [0, 5], "to": 4})").first, 200);
  const auto [undo_status, undo] = post(R"({"op": "undo", "expected": 3})");
  EXPECT_EQ(undo_status, 409) << undo.dump();  // edit 4 came since
  EXPECT_EQ(post(R"({"op": "undo", "expected": 4})").first, 200);
  EXPECT_EQ(post(R"({"op": "move", "images": [0], "to": 4})").first, 200);

  const Curation saved = Curation::load(path("curation.json"));
  EXPECT_EQ(saved.version(), 6);
  const std::vector<int64_t>& a = saved.assignment();
  // The split separated cluster 1's even images (10, 12, ... keep id 1) from its odd ones (-> 4).
  for (int64_t i = 10; i < 20; ++i) EXPECT_EQ(a[i], i % 2 == 0 ? 1 : 4) << i;
  for (int64_t i = 30; i < 40; ++i) EXPECT_EQ(a[i], 2) << i;
  EXPECT_EQ(a[0], 4);
  EXPECT_EQ(a[5], 0);

  auto csv = client().Get("/api/export.csv");
  ASSERT_TRUE(csv);
  std::ofstream(path("export.csv")) << csv->body;
  const Predictions p = read_predictions_csv(path("export.csv"));
  EXPECT_EQ(p.cluster, a);
  EXPECT_NE(csv->body.find("0,0,4,cluster 1 / 2\n"), std::string::npos) << csv->body.substr(0, 200);
  EXPECT_NE(csv->body.find("1,1,0,zero\n"), std::string::npos);
}

TEST_F(ServerTest, ConcurrentEditsAreAllKept) {
  // 8 clients each move their own 5 images back and forth 10 times and rename their own
  // cluster; every edit must be in the file, and each image where its client last put it.
  constexpr int kClients = 8, kRounds = 10;
  std::atomic<int> failures{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < kClients; ++t) {
    clients.emplace_back([&, t] {
      httplib::Client c("127.0.0.1", port_);
      for (int r = 0; r < kRounds; ++r) {
        json images = json::array();
        for (int k = 0; k < 5; ++k) images.push_back(t * 5 + k);
        const json move = {{"op", "move"}, {"images", images}, {"to", (t + r) % 4}};
        auto res = c.Post("/api/edit", move.dump(), "application/json");
        if (!res || res->status != 200) ++failures;
        auto read = c.Get("/api/state");
        if (!read || read->status != 200) ++failures;
      }
      const json rename = {
          {"op", "rename"}, {"cluster", t % 4}, {"name", "by " + std::to_string(t)}};
      auto res = c.Post("/api/edit", rename.dump(), "application/json");
      if (!res || res->status != 200) ++failures;
    });
  }
  for (auto& c : clients) c.join();
  EXPECT_EQ(failures.load(), 0);
  const Curation saved = Curation::load(path("curation.json"));
  EXPECT_EQ(saved.version(), kClients * (kRounds + 1));
  for (int t = 0; t < kClients; ++t) {
    for (int k = 0; k < 5; ++k) EXPECT_EQ(saved.assignment()[t * 5 + k], (t + kRounds - 1) % 4);
  }
  EXPECT_EQ(saved.assignment(), server_->curation().assignment());
}

}  // namespace
}  // namespace dcacn

// Curation: each edit's effect worked out by hand on a 10-image clustering, undo, the file's
// round trip and its refusals.

#include <gtest/gtest.h>

#include <fstream>

#include "../test_util.h"
#include "dcacn/curate/curation.h"
#include "dcacn/util/error.h"

namespace dcacn {
namespace {

using Kind = CurationError::Kind;

// Images 0..9 in clusters 0 0 0 1 1 1 2 2 2 2.
Curation ten_images() { return Curation({0, 0, 0, 1, 1, 1, 2, 2, 2, 2}, 3, {{"step", 7}}); }

Kind kind_of(const std::function<void()>& edit) {
  try {
    edit();
  } catch (const CurationError& e) {
    return e.kind();
  }
  ADD_FAILURE() << "the edit was not refused";
  return Kind::kInvalid;
}

using V = std::vector<int64_t>;

TEST(CurationTest, EditsApplyInOrderAndUndoRestoresEachOne) {
  Curation c = ten_images();
  EXPECT_EQ(c.rename(1, "shoes"), 1);
  EXPECT_EQ(c.name(1), "shoes");
  EXPECT_EQ(c.move({0, 6}, 1), 2);
  EXPECT_EQ(c.assignment(), V({1, 0, 0, 1, 1, 1, 1, 2, 2, 2}));
  EXPECT_EQ(c.merge({0}, 2), 3);
  EXPECT_EQ(c.assignment(), V({1, 2, 2, 1, 1, 1, 1, 2, 2, 2}));
  EXPECT_EQ(c.cluster_ids(), V({1, 2}));
  // Members of 2 are 1 2 7 8 9; parts 0 1 1 0 2: {1, 8} keep id 2, {2, 7} -> 3, {9} -> 4.
  EXPECT_EQ(c.split(2, {0, 1, 1, 0, 2}), 4);
  EXPECT_EQ(c.assignment(), V({1, 2, 3, 1, 1, 1, 1, 3, 2, 4}));
  EXPECT_EQ(c.cluster_ids(), V({1, 2, 3, 4}));
  EXPECT_EQ(c.name(3), "cluster 2 / 2");
  EXPECT_EQ(c.name(4), "cluster 2 / 3");
  EXPECT_EQ(c.latest_edit(), 4);

  EXPECT_EQ(c.undo(4), 5);  // the split
  EXPECT_EQ(c.assignment(), V({1, 2, 2, 1, 1, 1, 1, 2, 2, 2}));
  EXPECT_EQ(c.cluster_ids(), V({1, 2}));
  EXPECT_EQ(c.id_bound(), 5);  // ids are not reused
  c.undo();                    // the merge
  EXPECT_EQ(c.assignment(), V({1, 0, 0, 1, 1, 1, 1, 2, 2, 2}));
  EXPECT_EQ(c.cluster_ids(), V({0, 1, 2}));
  c.undo();  // the move
  EXPECT_EQ(c.assignment(), c.base());
  c.undo();  // the rename
  EXPECT_EQ(c.name(1), "cluster 1");
  EXPECT_EQ(c.version(), 8);
  EXPECT_EQ(kind_of([&] { c.undo(); }), Kind::kConflict);
}

// Undoing two splits retires the clusters each created, not the newest ids twice.
TEST(CurationTest, UndoingTwoSplitsRetiresTheClustersEachCreated) {
  Curation c = ten_images();
  c.split(2, {0, 0, 1, 1});  // 8 9 -> 3
  c.split(0, {0, 1, 1});     // 1 2 -> 4
  EXPECT_EQ(c.cluster_ids(), V({0, 1, 2, 3, 4}));
  c.undo();
  EXPECT_EQ(c.cluster_ids(), V({0, 1, 2, 3}));
  c.undo();
  EXPECT_EQ(c.cluster_ids(), V({0, 1, 2}));
  EXPECT_EQ(c.assignment(), c.base());
}

TEST(CurationTest, EditsThatCannotApplyAreRefusedAndChangeNothing) {
  Curation c = ten_images();
  c.merge({0}, 1);
  const V before = c.assignment();
  EXPECT_EQ(kind_of([&] { c.rename(9, "x"); }), Kind::kUnknown);
  EXPECT_EQ(kind_of([&] { c.rename(0, "x"); }), Kind::kConflict);  // merged away
  EXPECT_EQ(kind_of([&] { c.rename(1, ""); }), Kind::kInvalid);
  EXPECT_EQ(kind_of([&] { c.rename(1, std::string(201, 'a')); }), Kind::kInvalid);
  EXPECT_EQ(kind_of([&] { c.rename(1, "a\nb"); }), Kind::kInvalid);
  EXPECT_EQ(kind_of([&] { c.move({3, 10}, 1); }), Kind::kInvalid);
  EXPECT_EQ(kind_of([&] { c.move({-1}, 1); }), Kind::kInvalid);
  EXPECT_EQ(kind_of([&] { c.move({3, 3}, 2); }), Kind::kInvalid);
  EXPECT_EQ(kind_of([&] { c.move({}, 2); }), Kind::kInvalid);
  EXPECT_EQ(kind_of([&] { c.merge({1}, 1); }), Kind::kInvalid);
  EXPECT_EQ(kind_of([&] { c.merge({0}, 2); }), Kind::kConflict);
  EXPECT_EQ(kind_of([&] { c.split(1, {0, 0, 0, 0, 0, 0}); }), Kind::kConflict);  // one part
  EXPECT_EQ(kind_of([&] { c.split(1, {0, 1}); }), Kind::kConflict);  // 6 members, 2 parts given
  EXPECT_EQ(kind_of([&] { c.undo(7); }), Kind::kConflict);           // not the latest edit
  EXPECT_EQ(c.assignment(), before);
  EXPECT_EQ(c.version(), 1);
  EXPECT_EQ(c.name(1), "cluster 1");
}

TEST(CurationTest, BaseClusterMapFollowsMergesAndTheLargestPartOfASplit) {
  Curation c = ten_images();
  c.merge({0}, 1);
  c.split(2, {0, 1, 1, 1});  // 6 -> 2; 7 8 9 -> 3
  EXPECT_EQ(c.base_cluster_map(), V({1, 1, 3}));
}

class CurationFileTest : public test::TempDirTest {};

TEST_F(CurationFileTest, TheFileReplaysToTheSameState) {
  Curation c = ten_images();
  c.rename(2, "bags, \"large\"");
  c.split(2, {1, 0, 1, 0});
  c.move({0}, 3);
  c.undo();
  c.merge({0, 3}, 1);
  c.save(path("curation.json"));
  const Curation back = Curation::load(path("curation.json"));
  EXPECT_EQ(back.assignment(), c.assignment());
  EXPECT_EQ(back.cluster_ids(), c.cluster_ids());
  EXPECT_EQ(back.name(2), "bags, \"large\"");
  EXPECT_EQ(back.name(3), c.name(3));
  EXPECT_EQ(back.version(), 5);
  EXPECT_EQ(back.latest_edit(), 5);
  EXPECT_EQ(back.source()["step"], 7);
  // Undo after a reload takes back the same edit as it would have before.
  Curation again = back;
  again.undo();
  c.undo();
  EXPECT_EQ(again.assignment(), c.assignment());
}

TEST_F(CurationFileTest, ABrokenFileIsRefusedNamingTheFileAndTheEdit) {
  const auto refused = [&](const std::string& text, const std::string& expected) {
    std::ofstream(path("c.json")) << text;
    try {
      Curation::load(path("c.json"));
      ADD_FAILURE() << "accepted: " << text;
    } catch (const InputError& e) {
      const std::string message = e.what();
      EXPECT_NE(message.find(path("c.json")), std::string::npos) << message;
      EXPECT_NE(message.find(expected), std::string::npos) << message;
    }
  };
  refused("{", "not valid JSON");
  refused(R"({"format": "other"})", "not a dcacn curation file");
  refused(R"({"format": "dcacn-curation", "version": 9})", "this dcacn reads version 1");
  const std::string head =
      R"({"format": "dcacn-curation", "version": 1, "images": 3, "clusters": 2, )";
  refused(head + R"("base": [0, 1, 2], "edits": []})", "outside 0..1");
  refused(head + R"("base": [0, 1], "edits": []})", "\"images\" is 3");
  refused(
      head + R"("base": [0, 1, 1], "edits": [{"id": 1, "op": "move", "images": [0], "to": 5}]})",
      "edit 1");
  refused(head + R"("base": [0, 1, 1], "edits": [{"id": 1, "op": "explode"}]})", "unknown edit");
  refused(head + R"("base": [0, 1, 1], "edits": [5]})", "an edit is an object");
  refused(
      head + R"("base": [0, 1, 1], "edits": [{"op": "split", "cluster": 1, "parts": [[1], "x"]}]})",
      "part 1 as a list");
}

}  // namespace
}  // namespace dcacn

package qdranttest_test

import (
	"context"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/semcache/semcache/vectorstore/qdrant/qdranttest"
)

// dial returns a real go-client connected over TCP to a fresh fake.
func dial(t *testing.T) (*qdrant.Client, *qdranttest.Server) {
	t.Helper()
	srv := qdranttest.StartServer(t)
	c, err := qdrant.NewClient(&qdrant.Config{Host: srv.Host(), Port: srv.Port()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, srv
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func createCollection(t *testing.T, c *qdrant.Client, name string, size uint64) {
	t.Helper()
	if err := c.CreateCollection(ctx(t), &qdrant.CreateCollection{
		CollectionName: name,
		VectorsConfig:  qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: size, Distance: qdrant.Distance_Cosine}),
	}); err != nil {
		t.Fatal(err)
	}
}

func code(err error) codes.Code { return status.Code(err) }

func TestHealthCheckReportsCompatibleVersion(t *testing.T) {
	c, _ := dial(t)
	reply, err := c.HealthCheck(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if reply.GetVersion() != qdranttest.Version || !strings.Contains(reply.GetTitle(), "fake") {
		t.Errorf("health check = %+v", reply)
	}
	if !qdrant.IsCompatible("1.18.3", reply.GetVersion()) {
		t.Errorf("go-client 1.18.3 deems fake version %s incompatible", reply.GetVersion())
	}
}

func TestCollections(t *testing.T) {
	c, _ := dial(t)
	if ok, err := c.CollectionExists(ctx(t), "a"); err != nil || ok {
		t.Fatalf("CollectionExists before create = %v, %v", ok, err)
	}
	if _, err := c.GetCollectionInfo(ctx(t), "a"); code(err) != codes.NotFound {
		t.Errorf("GetCollectionInfo of a missing collection: %v, want NotFound", err)
	}
	createCollection(t, c, "a", 3)
	err := c.CreateCollection(ctx(t), &qdrant.CreateCollection{
		CollectionName: "a",
		VectorsConfig:  qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: 3, Distance: qdrant.Distance_Cosine}),
	})
	if code(err) != codes.AlreadyExists {
		t.Errorf("second create: %v, want AlreadyExists", err)
	}
	err = c.CreateCollection(ctx(t), &qdrant.CreateCollection{
		CollectionName: "euclid",
		VectorsConfig:  qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: 3, Distance: qdrant.Distance_Euclid}),
	})
	if code(err) != codes.Unimplemented {
		t.Errorf("Euclid collection: %v, want Unimplemented (not silently wrong)", err)
	}
	keyword := qdrant.FieldType_FieldTypeKeyword
	if _, err := c.CreateFieldIndex(ctx(t), &qdrant.CreateFieldIndexCollection{CollectionName: "a", FieldName: "tag", FieldType: &keyword}); err != nil {
		t.Fatal(err)
	}
	info, err := c.GetCollectionInfo(ctx(t), "a")
	if err != nil {
		t.Fatal(err)
	}
	params := info.GetConfig().GetParams().GetVectorsConfig().GetParams()
	if params.GetSize() != 3 || params.GetDistance() != qdrant.Distance_Cosine {
		t.Errorf("vector params = %+v", params)
	}
	if info.GetPayloadSchema()["tag"].GetDataType() != qdrant.PayloadSchemaType_Keyword {
		t.Errorf("payload schema = %v", info.GetPayloadSchema())
	}
	names, err := c.ListCollections(ctx(t))
	if err != nil || !slices.Equal(names, []string{"a"}) {
		t.Errorf("ListCollections = %v, %v", names, err)
	}
	if err := c.DeleteCollection(ctx(t), "a"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.CollectionExists(ctx(t), "a"); ok {
		t.Error("collection survives delete")
	}
}

const (
	idA = "00000000-0000-0000-0000-00000000000a"
	idB = "00000000-0000-0000-0000-00000000000b"
	idC = "00000000-0000-0000-0000-00000000000c"
	idD = "00000000-0000-0000-0000-00000000000d"
)

// seed stores four points with varied payloads in collection "c".
func seed(t *testing.T, c *qdrant.Client) {
	t.Helper()
	createCollection(t, c, "c", 2)
	points := []*qdrant.PointStruct{
		{Id: qdrant.NewID(idA), Vectors: qdrant.NewVectorsDense([]float32{1, 0}), Payload: qdrant.NewValueMap(map[string]any{
			"tag": "red", "n": 1, "tags": []any{"x", "y"}, "obj": map[string]any{"k": "v"}, "exp": 100,
		})},
		{Id: qdrant.NewID(idB), Vectors: qdrant.NewVectorsDense([]float32{3, 4}), Payload: qdrant.NewValueMap(map[string]any{
			"tag": "blue", "n": 2, "tags": []any{}, "obj": map[string]any{"k": "w"}, "nul": nil,
		})},
		{Id: qdrant.NewID(idC), Vectors: qdrant.NewVectorsDense([]float32{0, 2}), Payload: qdrant.NewValueMap(map[string]any{
			"tag": "", "n": 3.5, "exp": 300,
		})},
		{Id: qdrant.NewIDNum(7), Vectors: qdrant.NewVectorsDense([]float32{-1, 0}), Payload: qdrant.NewValueMap(map[string]any{
			"tag": "red", "tags": []any{"y"}, "objs": []any{map[string]any{"k": "v"}, map[string]any{"k": "z"}},
		})},
	}
	wait := true
	if _, err := c.Upsert(ctx(t), &qdrant.UpsertPoints{CollectionName: "c", Wait: &wait, Points: points}); err != nil {
		t.Fatal(err)
	}
}

func TestFilterSemantics(t *testing.T) {
	c, _ := dial(t)
	seed(t, c)
	f := func(v float64) *float64 { return &v }
	tests := []struct {
		name   string
		filter *qdrant.Filter
		want   []string // point keys: uuid or number
	}{
		{"nil filter", nil, []string{idA, idB, idC, "7"}},
		{"keyword", &qdrant.Filter{Must: []*qdrant.Condition{qdrant.NewMatchKeyword("tag", "red")}}, []string{idA, "7"}},
		{"empty keyword matches empty string only", &qdrant.Filter{Must: []*qdrant.Condition{qdrant.NewMatchKeyword("tag", "")}}, []string{idC}},
		{"keyword in array", &qdrant.Filter{Must: []*qdrant.Condition{qdrant.NewMatchKeyword("tags", "y")}}, []string{idA, "7"}},
		{"integer", &qdrant.Filter{Must: []*qdrant.Condition{qdrant.NewMatchInt("n", 2)}}, []string{idB}},
		{"keywords any", &qdrant.Filter{Must: []*qdrant.Condition{qdrant.NewMatchKeywords("tag", "blue", "")}}, []string{idB, idC}},
		{"except", &qdrant.Filter{Must: []*qdrant.Condition{qdrant.NewMatchExcept("tag", "red")}}, []string{idB, idC}},
		{"nested key", &qdrant.Filter{Must: []*qdrant.Condition{qdrant.NewMatchKeyword("obj.k", "v")}}, []string{idA}},
		{"array of objects", &qdrant.Filter{Must: []*qdrant.Condition{qdrant.NewMatchKeyword("objs[].k", "z")}}, []string{"7"}},
		{"two musts", &qdrant.Filter{Must: []*qdrant.Condition{qdrant.NewMatchKeyword("tag", "red"), qdrant.NewMatchKeyword("tags", "x")}}, []string{idA}},
		{"should", &qdrant.Filter{Should: []*qdrant.Condition{qdrant.NewMatchKeyword("tag", "blue"), qdrant.NewMatchInt("n", 1)}}, []string{idA, idB}},
		{"must_not", &qdrant.Filter{MustNot: []*qdrant.Condition{qdrant.NewMatchKeyword("tag", "red")}}, []string{idB, idC}},
		{"min_should", &qdrant.Filter{MinShould: &qdrant.MinShould{MinCount: 2, Conditions: []*qdrant.Condition{
			qdrant.NewMatchKeyword("tag", "red"), qdrant.NewMatchKeyword("tags", "x"), qdrant.NewMatchKeyword("obj.k", "v"),
		}}}, []string{idA}},
		{"range counts integers and doubles", &qdrant.Filter{Must: []*qdrant.Condition{qdrant.NewRange("n", &qdrant.Range{Gt: f(1), Lte: f(3.5)})}}, []string{idB, idC}},
		{"must_not range keeps missing", &qdrant.Filter{MustNot: []*qdrant.Condition{qdrant.NewRange("exp", &qdrant.Range{Lte: f(200)})}}, []string{idB, idC, "7"}},
		{"is_empty: missing, null or []", &qdrant.Filter{Must: []*qdrant.Condition{qdrant.NewIsEmpty("tags")}}, []string{idB, idC}},
		{"is_null", &qdrant.Filter{Must: []*qdrant.Condition{qdrant.NewIsNull("nul")}}, []string{idB}},
		{"has_id", &qdrant.Filter{Must: []*qdrant.Condition{qdrant.NewHasID(qdrant.NewID(strings.ToUpper(idC)), qdrant.NewIDNum(7))}}, []string{idC, "7"}},
		{"nested filter", &qdrant.Filter{MustNot: []*qdrant.Condition{qdrant.NewFilterAsCondition(&qdrant.Filter{
			Must: []*qdrant.Condition{qdrant.NewMatchKeyword("tag", "red"), qdrant.NewMatchInt("n", 1)},
		})}}, []string{idB, idC, "7"}},
	}
	exact := true
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			limit := uint64(10)
			pts, err := c.Query(ctx(t), &qdrant.QueryPoints{CollectionName: "c", Query: qdrant.NewQueryDense([]float32{1, 1}), Filter: tc.filter, Limit: &limit})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range pts {
				got = append(got, key(p.GetId()))
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("query ids = %v, want %v", got, tc.want)
			}
			n, err := c.Count(ctx(t), &qdrant.CountPoints{CollectionName: "c", Filter: tc.filter, Exact: &exact})
			if err != nil || int(n) != len(tc.want) {
				t.Errorf("Count = %d, %v; want %d", n, err, len(tc.want))
			}
		})
	}
	// Unsupported conditions are refused, never silently ignored.
	_, err := c.Count(ctx(t), &qdrant.CountPoints{CollectionName: "c", Filter: &qdrant.Filter{Must: []*qdrant.Condition{qdrant.NewMatchText("tag", "re")}}})
	if code(err) != codes.Unimplemented {
		t.Errorf("full-text match: %v, want Unimplemented", err)
	}
}

func key(id *qdrant.PointId) string {
	if u := id.GetUuid(); u != "" {
		return u
	}
	return strconv.FormatUint(id.GetNum(), 10)
}

func TestQueryScoresThresholdLimitOffset(t *testing.T) {
	c, _ := dial(t)
	seed(t, c)
	q := []float32{1, 0}
	limit := uint64(10)
	pts, err := c.Query(ctx(t), &qdrant.QueryPoints{
		CollectionName: "c", Query: qdrant.NewQueryDense(q), Limit: &limit,
		WithPayload: qdrant.NewWithPayloadInclude("tag"), WithVectors: qdrant.NewWithVectors(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	// Cosine: A (1,0) → 1; B (3,4) → 0.6; C (0,2) → 0; 7 (-1,0) → -1.
	wantIDs := []string{idA, idB, idC, "7"}
	wantScores := []float32{1, 0.6, 0, -1}
	for i, p := range pts {
		if key(p.GetId()) != wantIDs[i] || math.Abs(float64(p.GetScore()-wantScores[i])) > 1e-6 {
			t.Errorf("rank %d: %s %v, want %s %v", i, key(p.GetId()), p.GetScore(), wantIDs[i], wantScores[i])
		}
		if len(p.GetPayload()) != 1 || p.GetPayload()["tag"] == nil {
			t.Errorf("rank %d: payload %v, want only tag", i, p.GetPayload())
		}
	}
	// Cosine collections store normalised vectors, as Qdrant does.
	if v := pts[1].GetVectors().GetVector().GetDense().GetData(); len(v) != 2 || math.Abs(float64(v[0])-0.6) > 1e-6 || math.Abs(float64(v[1])-0.8) > 1e-6 {
		t.Errorf("stored vector of B = %v, want (0.6, 0.8)", v)
	}
	threshold := float32(0.6)
	two, offset := uint64(2), uint64(1)
	tests := []struct {
		name string
		req  *qdrant.QueryPoints
		want []string
	}{
		{"threshold keeps equal scores", &qdrant.QueryPoints{CollectionName: "c", Query: qdrant.NewQueryDense(q), ScoreThreshold: &threshold}, []string{idA, idB}},
		{"limit", &qdrant.QueryPoints{CollectionName: "c", Query: qdrant.NewQueryDense(q), Limit: &two}, []string{idA, idB}},
		{"offset", &qdrant.QueryPoints{CollectionName: "c", Query: qdrant.NewQueryDense(q), Limit: &two, Offset: &offset}, []string{idB, idC}},
	}
	for _, tc := range tests {
		pts, err := c.Query(ctx(t), tc.req)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range pts {
			got = append(got, key(p.GetId()))
			if len(p.GetPayload()) != 0 {
				t.Errorf("%s: payload returned without with_payload", tc.name)
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	// The legacy Search RPC agrees.
	res, err := c.GetPointsClient().Search(ctx(t), &qdrant.SearchPoints{CollectionName: "c", Vector: q, Limit: 1})
	if err != nil || len(res.GetResult()) != 1 || key(res.GetResult()[0].GetId()) != idA {
		t.Errorf("Search = %v, %v", res.GetResult(), err)
	}
}

func TestUpsertDeleteAndErrors(t *testing.T) {
	c, srv := dial(t)
	seed(t, c)
	wait := true
	// Upsert replaces the whole point, payload included.
	if _, err := c.Upsert(ctx(t), &qdrant.UpsertPoints{CollectionName: "c", Wait: &wait, Points: []*qdrant.PointStruct{
		{Id: qdrant.NewID(idA), Vectors: qdrant.NewVectorsDense([]float32{0, 1}), Payload: qdrant.NewValueMap(map[string]any{"only": "this"})},
	}}); err != nil {
		t.Fatal(err)
	}
	got, err := c.Get(ctx(t), &qdrant.GetPoints{CollectionName: "c", Ids: []*qdrant.PointId{qdrant.NewID(idA)}, WithPayload: qdrant.NewWithPayload(true)})
	if err != nil || len(got) != 1 || len(got[0].GetPayload()) != 1 || got[0].GetPayload()["only"].GetStringValue() != "this" {
		t.Errorf("after replace: %v, %v", got, err)
	}
	// A batch with one bad vector is rejected whole.
	_, err = c.Upsert(ctx(t), &qdrant.UpsertPoints{CollectionName: "c", Wait: &wait, Points: []*qdrant.PointStruct{
		{Id: qdrant.NewID(idD), Vectors: qdrant.NewVectorsDense([]float32{1, 1})},
		{Id: qdrant.NewIDNum(9), Vectors: qdrant.NewVectorsDense([]float32{1, 1, 1})},
	}})
	if code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "expected dim: 2, got 3") {
		t.Errorf("bad dimension: %v", err)
	}
	if n := srv.PointCount("c"); n != 4 {
		t.Errorf("PointCount = %d after a rejected batch, want 4", n)
	}
	_, err = c.Upsert(ctx(t), &qdrant.UpsertPoints{CollectionName: "c", Points: []*qdrant.PointStruct{
		{Id: qdrant.NewID("not-a-uuid"), Vectors: qdrant.NewVectorsDense([]float32{1, 1})},
	}})
	if code(err) != codes.InvalidArgument {
		t.Errorf("bad uuid: %v", err)
	}
	limit := uint64(1)
	if _, err := c.Query(ctx(t), &qdrant.QueryPoints{CollectionName: "c", Query: qdrant.NewQueryDense([]float32{1}), Limit: &limit}); code(err) != codes.InvalidArgument {
		t.Errorf("query of the wrong dimension: %v", err)
	}
	if _, err := c.Query(ctx(t), &qdrant.QueryPoints{CollectionName: "missing", Query: qdrant.NewQueryDense([]float32{1, 0})}); code(err) != codes.NotFound {
		t.Errorf("query of a missing collection: %v", err)
	}
	// Delete by ids (unknown ones ignored), then by filter.
	if _, err := c.Delete(ctx(t), &qdrant.DeletePoints{CollectionName: "c", Wait: &wait, Points: qdrant.NewPointsSelector(qdrant.NewID(idA), qdrant.NewID(idD))}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Delete(ctx(t), &qdrant.DeletePoints{CollectionName: "c", Wait: &wait, Points: qdrant.NewPointsSelectorFilter(&qdrant.Filter{
		Must: []*qdrant.Condition{qdrant.NewMatchKeyword("tag", "red")},
	})}); err != nil {
		t.Fatal(err)
	}
	if n := srv.PointCount("c"); n != 2 {
		t.Errorf("PointCount = %d after deletes, want 2 (B and C)", n)
	}
}

func TestAPIKey(t *testing.T) {
	srv := qdranttest.NewServer()
	srv.APIKey = "secret"
	if err := srv.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	for _, tc := range []struct {
		key  string
		want codes.Code
	}{{"", codes.Unauthenticated}, {"wrong", codes.Unauthenticated}, {"secret", codes.OK}} {
		c, err := qdrant.NewClient(&qdrant.Config{Host: srv.Host(), Port: srv.Port(), APIKey: tc.key, SkipCompatibilityCheck: true})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.HealthCheck(ctx(t))
		if code(err) != tc.want {
			t.Errorf("api key %q: %v, want %v", tc.key, err, tc.want)
		}
		c.Close()
	}
}

func TestStopAndListenAgainKeepsData(t *testing.T) {
	c, srv := dial(t)
	seed(t, c)
	addr := srv.Addr()
	srv.Stop()
	if _, err := c.HealthCheck(ctx(t)); code(err) != codes.Unavailable {
		t.Errorf("health check while stopped: %v, want Unavailable", err)
	}
	if err := srv.Listen(addr); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		exact := true
		n, err := c.Count(ctx(t), &qdrant.CountPoints{CollectionName: "c", Exact: &exact})
		if err == nil {
			if n != 4 {
				t.Errorf("Count after restart = %d, want 4", n)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("client did not reconnect: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

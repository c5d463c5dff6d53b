// Package qdranttest is a protocol fake of the Qdrant gRPC API, for testing
// code that talks to Qdrant (vectorstore/qdrant) where no Qdrant server can
// run. It is not a Qdrant: it keeps points in memory and searches them by
// brute force, which makes its results exact.
//
// The fake serves the go-client's own generated service interfaces
// (qdrant.RegisterQdrantServer, RegisterCollectionsServer, RegisterPointsServer)
// on a loopback TCP listener, so the real client dials it exactly as it dials
// a server. It implements faithfully the subset semcache uses:
//
//   - health check;
//   - collections: create (one unnamed dense vector, Cosine or Dot distance),
//     get info, exists, list, delete;
//   - field indexes: create and delete (recorded in the payload schema; they
//     change nothing else, as in Qdrant, where indexes only speed filters up);
//   - points: upsert (replacing the whole point), get, delete by ids or by
//     filter, count with a filter, search and query (nearest to a dense vector)
//     with filter, score_threshold, limit, offset, with_payload, with_vectors.
//
// Filters support must, should, must_not, min_should, nested filters, has_id,
// is_empty, is_null and field conditions with match keyword / integer / bool /
// any (keywords, integers) / except, and range; arrays match when any element
// does, as in Qdrant. Anything else answers codes.Unimplemented rather than
// silently misbehaving. Cosine collections normalise vectors on upsert, as
// Qdrant does, so returned vectors are the normalised ones.
package qdranttest

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"math"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Version is what the fake reports in its health check: the minor version of
// the go-client the project pins, so the client's compatibility check passes.
const Version = "1.18.0"

// Start runs a fake on 127.0.0.1 with a free port for the duration of the
// test and returns where to dial it.
func Start(tb testing.TB) (host string, port int) {
	tb.Helper()
	s := StartServer(tb)
	return s.Host(), s.Port()
}

// StartServer is Start returning the Server, for tests that stop and restart
// it or set an API key.
func StartServer(tb testing.TB) *Server {
	tb.Helper()
	s := NewServer()
	if err := s.Listen("127.0.0.1:0"); err != nil {
		tb.Fatalf("qdranttest: %v", err)
	}
	tb.Cleanup(s.Stop)
	return s
}

// Server is the fake. Its state survives Stop, so a test can stop it to
// simulate an outage and Listen again on the same address.
type Server struct {
	// APIKey, when set before Listen, is required in every request's
	// "api-key" metadata, as a Qdrant server configured with one does.
	APIKey string

	mu          sync.Mutex
	collections map[string]*collection
	opID        uint64

	srvMu sync.Mutex
	grpc  *grpc.Server
	addr  *net.TCPAddr
}

type collection struct {
	size     uint64
	distance qdrant.Distance
	points   map[string]*point // by pointKey
	schema   map[string]*qdrant.PayloadSchemaInfo
}

type point struct {
	id      *qdrant.PointId
	vector  []float32
	payload map[string]*qdrant.Value
}

// NewServer returns a fake with no collections that is not listening yet.
func NewServer() *Server {
	return &Server{collections: map[string]*collection{}}
}

// Listen starts serving on addr ("127.0.0.1:0" for a free port) in the
// background.
func (s *Server) Listen(addr string) error {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	g := grpc.NewServer(grpc.UnaryInterceptor(s.authenticate))
	qdrant.RegisterQdrantServer(g, &qdrantService{})
	qdrant.RegisterCollectionsServer(g, &collectionsService{s: s})
	qdrant.RegisterPointsServer(g, &pointsService{s: s})
	s.srvMu.Lock()
	s.grpc = g
	s.addr = lis.Addr().(*net.TCPAddr)
	s.srvMu.Unlock()
	go func() { _ = g.Serve(lis) }()
	return nil
}

// Stop closes the listener and every connection; the data stays.
func (s *Server) Stop() {
	s.srvMu.Lock()
	g := s.grpc
	s.grpc = nil
	s.srvMu.Unlock()
	if g != nil {
		g.Stop()
	}
}

// Addr is the address last listened on.
func (s *Server) Addr() string {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	return s.addr.String()
}

// Host is the IP address last listened on.
func (s *Server) Host() string {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	return s.addr.IP.String()
}

// Port is the port last listened on.
func (s *Server) Port() int {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	return s.addr.Port
}

// PointCount reports how many points a collection holds, expired or not
// (the fake knows nothing of expiry), or -1 if it does not exist.
func (s *Server) PointCount(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.collections[name]
	if !ok {
		return -1
	}
	return len(c.points)
}

func (s *Server) authenticate(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if s.APIKey != "" {
		md, _ := metadata.FromIncomingContext(ctx)
		if got := md.Get("api-key"); len(got) != 1 || got[0] != s.APIKey {
			return nil, status.Error(codes.Unauthenticated, "Must provide an API key or an Authorization bearer token")
		}
	}
	return handler(ctx, req)
}

// collection returns the named collection; the caller holds s.mu.
func (s *Server) collection(name string) (*collection, error) {
	c, ok := s.collections[name]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "Not found: Collection `%s` doesn't exist!", name)
	}
	return c, nil
}

func (s *Server) completed() *qdrant.PointsOperationResponse {
	s.opID++
	id := s.opID
	return &qdrant.PointsOperationResponse{Result: &qdrant.UpdateResult{OperationId: &id, Status: qdrant.UpdateStatus_Completed}}
}

type qdrantService struct {
	qdrant.UnimplementedQdrantServer
}

func (*qdrantService) HealthCheck(context.Context, *qdrant.HealthCheckRequest) (*qdrant.HealthCheckReply, error) {
	return &qdrant.HealthCheckReply{Title: "qdranttest - protocol fake of qdrant", Version: Version}, nil
}

type collectionsService struct {
	qdrant.UnimplementedCollectionsServer
	s *Server
}

func (cs *collectionsService) Create(_ context.Context, req *qdrant.CreateCollection) (*qdrant.CollectionOperationResponse, error) {
	name := req.GetCollectionName()
	if name == "" || strings.ContainsAny(name, "/\\:*?\"<>|\x00") {
		return nil, status.Errorf(codes.InvalidArgument, "Validation error in body: [collection_name: invalid name %q]", name)
	}
	params := req.GetVectorsConfig().GetParams()
	if params == nil {
		return nil, status.Error(codes.Unimplemented, "qdranttest: only a single unnamed dense vector per collection is supported")
	}
	if params.GetSize() == 0 {
		return nil, status.Error(codes.InvalidArgument, "Validation error in body: [vectors_config.size: value 0 invalid, must be 1 or larger]")
	}
	switch params.GetDistance() {
	case qdrant.Distance_Cosine, qdrant.Distance_Dot:
	default:
		return nil, status.Errorf(codes.Unimplemented, "qdranttest: distance %v is not supported", params.GetDistance())
	}
	if req.GetSparseVectorsConfig() != nil {
		return nil, status.Error(codes.Unimplemented, "qdranttest: sparse vectors are not supported")
	}
	cs.s.mu.Lock()
	defer cs.s.mu.Unlock()
	if _, ok := cs.s.collections[name]; ok {
		return nil, status.Errorf(codes.AlreadyExists, "Wrong input: Collection `%s` already exists!", name)
	}
	cs.s.collections[name] = &collection{
		size:     params.GetSize(),
		distance: params.GetDistance(),
		points:   map[string]*point{},
		schema:   map[string]*qdrant.PayloadSchemaInfo{},
	}
	return &qdrant.CollectionOperationResponse{Result: true}, nil
}

func (cs *collectionsService) Get(_ context.Context, req *qdrant.GetCollectionInfoRequest) (*qdrant.GetCollectionInfoResponse, error) {
	cs.s.mu.Lock()
	defer cs.s.mu.Unlock()
	c, err := cs.s.collection(req.GetCollectionName())
	if err != nil {
		return nil, err
	}
	n := uint64(len(c.points))
	schema := make(map[string]*qdrant.PayloadSchemaInfo, len(c.schema))
	for k, v := range c.schema {
		schema[k] = proto.CloneOf(v)
	}
	return &qdrant.GetCollectionInfoResponse{Result: &qdrant.CollectionInfo{
		Status:        qdrant.CollectionStatus_Green,
		SegmentsCount: 1,
		PointsCount:   &n,
		PayloadSchema: schema,
		Config: &qdrant.CollectionConfig{Params: &qdrant.CollectionParams{
			ShardNumber:   1,
			VectorsConfig: qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: c.size, Distance: c.distance}),
		}},
	}}, nil
}

func (cs *collectionsService) List(context.Context, *qdrant.ListCollectionsRequest) (*qdrant.ListCollectionsResponse, error) {
	cs.s.mu.Lock()
	defer cs.s.mu.Unlock()
	resp := &qdrant.ListCollectionsResponse{}
	for _, name := range slices.Sorted(maps.Keys(cs.s.collections)) {
		resp.Collections = append(resp.Collections, &qdrant.CollectionDescription{Name: name})
	}
	return resp, nil
}

func (cs *collectionsService) Delete(_ context.Context, req *qdrant.DeleteCollection) (*qdrant.CollectionOperationResponse, error) {
	cs.s.mu.Lock()
	defer cs.s.mu.Unlock()
	_, ok := cs.s.collections[req.GetCollectionName()]
	delete(cs.s.collections, req.GetCollectionName())
	return &qdrant.CollectionOperationResponse{Result: ok}, nil
}

func (cs *collectionsService) CollectionExists(_ context.Context, req *qdrant.CollectionExistsRequest) (*qdrant.CollectionExistsResponse, error) {
	cs.s.mu.Lock()
	defer cs.s.mu.Unlock()
	_, ok := cs.s.collections[req.GetCollectionName()]
	return &qdrant.CollectionExistsResponse{Result: &qdrant.CollectionExists{Exists: ok}}, nil
}

type pointsService struct {
	qdrant.UnimplementedPointsServer
	s *Server
}

func (ps *pointsService) CreateFieldIndex(_ context.Context, req *qdrant.CreateFieldIndexCollection) (*qdrant.PointsOperationResponse, error) {
	ps.s.mu.Lock()
	defer ps.s.mu.Unlock()
	c, err := ps.s.collection(req.GetCollectionName())
	if err != nil {
		return nil, err
	}
	if req.GetFieldName() == "" {
		return nil, status.Error(codes.InvalidArgument, "Validation error: field_name must not be empty")
	}
	var t qdrant.PayloadSchemaType
	switch req.GetFieldType() {
	case qdrant.FieldType_FieldTypeKeyword:
		t = qdrant.PayloadSchemaType_Keyword
	case qdrant.FieldType_FieldTypeInteger:
		t = qdrant.PayloadSchemaType_Integer
	case qdrant.FieldType_FieldTypeFloat:
		t = qdrant.PayloadSchemaType_Float
	case qdrant.FieldType_FieldTypeBool:
		t = qdrant.PayloadSchemaType_Bool
	default:
		return nil, status.Errorf(codes.Unimplemented, "qdranttest: field index type %v is not supported", req.GetFieldType())
	}
	c.schema[req.GetFieldName()] = &qdrant.PayloadSchemaInfo{DataType: t, Params: proto.CloneOf(req.GetFieldIndexParams())}
	return ps.s.completed(), nil
}

func (ps *pointsService) DeleteFieldIndex(_ context.Context, req *qdrant.DeleteFieldIndexCollection) (*qdrant.PointsOperationResponse, error) {
	ps.s.mu.Lock()
	defer ps.s.mu.Unlock()
	c, err := ps.s.collection(req.GetCollectionName())
	if err != nil {
		return nil, err
	}
	delete(c.schema, req.GetFieldName())
	return ps.s.completed(), nil
}

func (ps *pointsService) Upsert(_ context.Context, req *qdrant.UpsertPoints) (*qdrant.PointsOperationResponse, error) {
	if req.UpdateFilter != nil || req.ShardKeySelector != nil {
		return nil, status.Error(codes.Unimplemented, "qdranttest: update_filter and shard keys are not supported")
	}
	ps.s.mu.Lock()
	defer ps.s.mu.Unlock()
	c, err := ps.s.collection(req.GetCollectionName())
	if err != nil {
		return nil, err
	}
	// Validate the whole batch first: Qdrant rejects it as a whole.
	staged := make([]*point, 0, len(req.GetPoints()))
	for _, p := range req.GetPoints() {
		id, err := canonicalID(p.GetId())
		if err != nil {
			return nil, err
		}
		vec, err := denseVector(p.GetVectors())
		if err != nil {
			return nil, err
		}
		if uint64(len(vec)) != c.size {
			return nil, status.Errorf(codes.InvalidArgument, "Wrong input: Vector dimension error: expected dim: %d, got %d", c.size, len(vec))
		}
		vec = slices.Clone(vec)
		if c.distance == qdrant.Distance_Cosine {
			normalize(vec)
		}
		payload := make(map[string]*qdrant.Value, len(p.GetPayload()))
		for k, v := range p.GetPayload() {
			payload[k] = proto.CloneOf(v)
		}
		staged = append(staged, &point{id: id, vector: vec, payload: payload})
	}
	for _, p := range staged {
		c.points[pointKey(p.id)] = p
	}
	return ps.s.completed(), nil
}

func (ps *pointsService) Delete(_ context.Context, req *qdrant.DeletePoints) (*qdrant.PointsOperationResponse, error) {
	ps.s.mu.Lock()
	defer ps.s.mu.Unlock()
	c, err := ps.s.collection(req.GetCollectionName())
	if err != nil {
		return nil, err
	}
	switch sel := req.GetPoints().GetPointsSelectorOneOf().(type) {
	case *qdrant.PointsSelector_Points:
		for _, id := range sel.Points.GetIds() {
			cid, err := canonicalID(id)
			if err != nil {
				return nil, err
			}
			delete(c.points, pointKey(cid))
		}
	case *qdrant.PointsSelector_Filter:
		for k, p := range c.points {
			ok, err := matchFilter(sel.Filter, p)
			if err != nil {
				return nil, err
			}
			if ok {
				delete(c.points, k)
			}
		}
	default:
		return nil, status.Error(codes.InvalidArgument, "Validation error: points selector is required")
	}
	return ps.s.completed(), nil
}

func (ps *pointsService) Get(_ context.Context, req *qdrant.GetPoints) (*qdrant.GetResponse, error) {
	ps.s.mu.Lock()
	defer ps.s.mu.Unlock()
	c, err := ps.s.collection(req.GetCollectionName())
	if err != nil {
		return nil, err
	}
	resp := &qdrant.GetResponse{}
	for _, id := range req.GetIds() {
		cid, err := canonicalID(id)
		if err != nil {
			return nil, err
		}
		p, ok := c.points[pointKey(cid)]
		if !ok {
			continue
		}
		payload, err := selectPayload(p.payload, req.GetWithPayload())
		if err != nil {
			return nil, err
		}
		rp := &qdrant.RetrievedPoint{Id: proto.CloneOf(p.id), Payload: payload}
		if withVectors(req.GetWithVectors()) {
			rp.Vectors = vectorsOutput(p.vector)
		}
		resp.Result = append(resp.Result, rp)
	}
	return resp, nil
}

func (ps *pointsService) Count(_ context.Context, req *qdrant.CountPoints) (*qdrant.CountResponse, error) {
	ps.s.mu.Lock()
	defer ps.s.mu.Unlock()
	c, err := ps.s.collection(req.GetCollectionName())
	if err != nil {
		return nil, err
	}
	var n uint64
	for _, p := range c.points {
		ok, err := matchFilter(req.GetFilter(), p)
		if err != nil {
			return nil, err
		}
		if ok {
			n++
		}
	}
	return &qdrant.CountResponse{Result: &qdrant.CountResult{Count: n}}, nil
}

// nearest is what Search and Query share.
type nearest struct {
	collection  string
	vector      []float32
	filter      *qdrant.Filter
	threshold   *float32
	limit       uint64
	offset      uint64
	withPayload *qdrant.WithPayloadSelector
	withVectors *qdrant.WithVectorsSelector
}

func (ps *pointsService) Search(_ context.Context, req *qdrant.SearchPoints) (*qdrant.SearchResponse, error) {
	if req.GetVectorName() != "" || req.SparseIndices != nil || req.ShardKeySelector != nil {
		return nil, status.Error(codes.Unimplemented, "qdranttest: named/sparse vectors and shard keys are not supported")
	}
	if req.GetLimit() == 0 {
		return nil, status.Error(codes.InvalidArgument, "Validation error in body: [limit: value 0 invalid, must be 1 or larger]")
	}
	res, err := ps.s.nearest(nearest{
		collection: req.GetCollectionName(), vector: req.GetVector(), filter: req.GetFilter(),
		threshold: req.ScoreThreshold, limit: req.GetLimit(), offset: req.GetOffset(),
		withPayload: req.GetWithPayload(), withVectors: req.GetWithVectors(),
	})
	if err != nil {
		return nil, err
	}
	return &qdrant.SearchResponse{Result: res}, nil
}

func (ps *pointsService) Query(_ context.Context, req *qdrant.QueryPoints) (*qdrant.QueryResponse, error) {
	if len(req.GetPrefetch()) > 0 || req.GetUsing() != "" || req.LookupFrom != nil || req.ShardKeySelector != nil {
		return nil, status.Error(codes.Unimplemented, "qdranttest: prefetch, using, lookup_from and shard keys are not supported")
	}
	nq, ok := req.GetQuery().GetVariant().(*qdrant.Query_Nearest)
	if !ok {
		return nil, status.Errorf(codes.Unimplemented, "qdranttest: only nearest queries are supported, got %T", req.GetQuery().GetVariant())
	}
	var vec []float32
	switch in := nq.Nearest.GetVariant().(type) {
	case *qdrant.VectorInput_Dense:
		vec = in.Dense.GetData()
	default:
		return nil, status.Errorf(codes.Unimplemented, "qdranttest: only dense vector inputs are supported, got %T", in)
	}
	limit := uint64(10) // Qdrant's default
	if req.Limit != nil {
		limit = req.GetLimit()
	}
	res, err := ps.s.nearest(nearest{
		collection: req.GetCollectionName(), vector: vec, filter: req.GetFilter(),
		threshold: req.ScoreThreshold, limit: limit, offset: req.GetOffset(),
		withPayload: req.GetWithPayload(), withVectors: req.GetWithVectors(),
	})
	if err != nil {
		return nil, err
	}
	return &qdrant.QueryResponse{Result: res}, nil
}

func (s *Server) nearest(q nearest) ([]*qdrant.ScoredPoint, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.collection(q.collection)
	if err != nil {
		return nil, err
	}
	if uint64(len(q.vector)) != c.size {
		return nil, status.Errorf(codes.InvalidArgument, "Wrong input: Vector dimension error: expected dim: %d, got %d", c.size, len(q.vector))
	}
	query := slices.Clone(q.vector)
	if c.distance == qdrant.Distance_Cosine {
		normalize(query)
	}
	type scored struct {
		p     *point
		score float32
	}
	var hits []scored
	for _, p := range c.points {
		ok, err := matchFilter(q.filter, p)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		score := dot(query, p.vector)
		// "Less similar results will not be returned": scores at the
		// threshold stay.
		if q.threshold != nil && score < *q.threshold {
			continue
		}
		hits = append(hits, scored{p, score})
	}
	slices.SortFunc(hits, func(a, b scored) int {
		if c := cmp.Compare(b.score, a.score); c != 0 {
			return c
		}
		return strings.Compare(pointKey(a.p.id), pointKey(b.p.id))
	})
	start := min(q.offset, uint64(len(hits)))
	end := min(start+q.limit, uint64(len(hits)))
	out := make([]*qdrant.ScoredPoint, 0, end-start)
	for _, h := range hits[start:end] {
		payload, err := selectPayload(h.p.payload, q.withPayload)
		if err != nil {
			return nil, err
		}
		sp := &qdrant.ScoredPoint{Id: proto.CloneOf(h.p.id), Payload: payload, Score: h.score, Version: 1}
		if withVectors(q.withVectors) {
			sp.Vectors = vectorsOutput(h.p.vector)
		}
		out = append(out, sp)
	}
	return out, nil
}

// canonicalID validates an id and returns it in Qdrant's canonical form
// (UUIDs lower-case and hyphenated).
func canonicalID(id *qdrant.PointId) (*qdrant.PointId, error) {
	switch v := id.GetPointIdOptions().(type) {
	case *qdrant.PointId_Num:
		return qdrant.NewIDNum(v.Num), nil
	case *qdrant.PointId_Uuid:
		u, err := parseUUID(v.Uuid)
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "Unable to parse UUID: %s", v.Uuid)
		}
		return qdrant.NewIDUUID(u), nil
	}
	return nil, status.Error(codes.InvalidArgument, "Wrong input: point id is required")
}

func parseUUID(s string) (string, error) {
	s = strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(s, "{"), "}"))
	s = strings.TrimPrefix(s, "urn:uuid:")
	hex := strings.ReplaceAll(s, "-", "")
	if len(hex) != 32 || (len(s) != 32 && len(s) != 36) {
		return "", fmt.Errorf("bad uuid %q", s)
	}
	for _, r := range hex {
		if !strings.ContainsRune("0123456789abcdef", r) {
			return "", fmt.Errorf("bad uuid %q", s)
		}
	}
	return hex[:8] + "-" + hex[8:12] + "-" + hex[12:16] + "-" + hex[16:20] + "-" + hex[20:], nil
}

func pointKey(id *qdrant.PointId) string {
	if u, ok := id.GetPointIdOptions().(*qdrant.PointId_Uuid); ok {
		return "u:" + u.Uuid
	}
	return fmt.Sprintf("n:%020d", id.GetNum())
}

func denseVector(v *qdrant.Vectors) ([]float32, error) {
	switch o := v.GetVectorsOptions().(type) {
	case *qdrant.Vectors_Vector:
		if d := o.Vector.GetDense(); d != nil {
			return d.GetData(), nil
		}
		if o.Vector.GetSparse() != nil || o.Vector.GetMultiDense() != nil || o.Vector.Indices != nil {
			return nil, status.Error(codes.Unimplemented, "qdranttest: only dense vectors are supported")
		}
		return o.Vector.GetData(), nil // the deprecated plain field
	case *qdrant.Vectors_Vectors:
		return nil, status.Error(codes.Unimplemented, "qdranttest: named vectors are not supported")
	}
	return nil, status.Error(codes.InvalidArgument, "Wrong input: point has no vector")
}

func vectorsOutput(v []float32) *qdrant.VectorsOutput {
	return &qdrant.VectorsOutput{VectorsOptions: &qdrant.VectorsOutput_Vector{Vector: &qdrant.VectorOutput{
		Vector: &qdrant.VectorOutput_Dense{Dense: &qdrant.DenseVector{Data: slices.Clone(v)}},
	}}}
}

func withVectors(sel *qdrant.WithVectorsSelector) bool {
	switch o := sel.GetSelectorOptions().(type) {
	case *qdrant.WithVectorsSelector_Enable:
		return o.Enable
	case *qdrant.WithVectorsSelector_Include:
		return len(o.Include.GetNames()) > 0
	}
	return false
}

func selectPayload(payload map[string]*qdrant.Value, sel *qdrant.WithPayloadSelector) (map[string]*qdrant.Value, error) {
	keep := func(string) bool { return false }
	switch o := sel.GetSelectorOptions().(type) {
	case nil:
	case *qdrant.WithPayloadSelector_Enable:
		keep = func(string) bool { return o.Enable }
	case *qdrant.WithPayloadSelector_Include:
		keep = func(k string) bool { return slices.Contains(o.Include.GetFields(), k) }
	case *qdrant.WithPayloadSelector_Exclude:
		keep = func(k string) bool { return !slices.Contains(o.Exclude.GetFields(), k) }
	default:
		return nil, status.Errorf(codes.Unimplemented, "qdranttest: payload selector %T", o)
	}
	out := map[string]*qdrant.Value{}
	for k, v := range payload {
		if keep(k) {
			out[k] = proto.CloneOf(v)
		}
	}
	return out, nil
}

func normalize(v []float32) {
	var n float64
	for _, x := range v {
		n += float64(x) * float64(x)
	}
	if n == 0 {
		return
	}
	n = math.Sqrt(n)
	for i := range v {
		v[i] = float32(float64(v[i]) / n)
	}
}

func dot(a, b []float32) float32 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return float32(s)
}

// matchFilter evaluates a Qdrant filter on a point; a nil filter matches all.
func matchFilter(f *qdrant.Filter, p *point) (bool, error) {
	if f == nil {
		return true, nil
	}
	for _, c := range f.GetMust() {
		ok, err := matchCondition(c, p)
		if err != nil || !ok {
			return false, err
		}
	}
	for _, c := range f.GetMustNot() {
		ok, err := matchCondition(c, p)
		if err != nil || ok {
			return false, err
		}
	}
	if len(f.GetShould()) > 0 {
		matched := false
		for _, c := range f.GetShould() {
			ok, err := matchCondition(c, p)
			if err != nil {
				return false, err
			}
			if ok {
				matched = true
				break
			}
		}
		if !matched {
			return false, nil
		}
	}
	if ms := f.GetMinShould(); ms != nil {
		n := uint64(0)
		for _, c := range ms.GetConditions() {
			ok, err := matchCondition(c, p)
			if err != nil {
				return false, err
			}
			if ok {
				n++
			}
		}
		if n < ms.GetMinCount() {
			return false, nil
		}
	}
	return true, nil
}

func matchCondition(c *qdrant.Condition, p *point) (bool, error) {
	switch o := c.GetConditionOneOf().(type) {
	case *qdrant.Condition_Field:
		return matchField(o.Field, p)
	case *qdrant.Condition_IsEmpty:
		return isEmpty(lookup(p.payload, o.IsEmpty.GetKey())), nil
	case *qdrant.Condition_IsNull:
		return isNull(lookup(p.payload, o.IsNull.GetKey())), nil
	case *qdrant.Condition_HasId:
		for _, id := range o.HasId.GetHasId() {
			cid, err := canonicalID(id)
			if err != nil {
				return false, err
			}
			if pointKey(cid) == pointKey(p.id) {
				return true, nil
			}
		}
		return false, nil
	case *qdrant.Condition_Filter:
		return matchFilter(o.Filter, p)
	case nil:
		return false, status.Error(codes.InvalidArgument, "Wrong input: empty condition")
	}
	return false, status.Errorf(codes.Unimplemented, "qdranttest: condition %T is not supported", c.GetConditionOneOf())
}

func matchField(fc *qdrant.FieldCondition, p *point) (bool, error) {
	if fc.GeoBoundingBox != nil || fc.GeoRadius != nil || fc.GeoPolygon != nil || fc.ValuesCount != nil || fc.DatetimeRange != nil {
		return false, status.Errorf(codes.Unimplemented, "qdranttest: geo, values_count and datetime conditions are not supported (key %q)", fc.GetKey())
	}
	raw := lookup(p.payload, fc.GetKey())
	switch {
	case fc.IsEmpty != nil:
		return isEmpty(raw) == fc.GetIsEmpty(), nil
	case fc.IsNull != nil:
		return isNull(raw) == fc.GetIsNull(), nil
	case fc.Match != nil && fc.Range != nil:
		return false, status.Error(codes.InvalidArgument, "Wrong input: a field condition takes one of match or range")
	case fc.Match != nil:
		return matchValue(fc.Match, flatten(raw))
	case fc.Range != nil:
		r := fc.Range
		for _, v := range flatten(raw) {
			x, ok := number(v)
			if !ok {
				continue
			}
			if (r.Lt == nil || x < r.GetLt()) && (r.Gt == nil || x > r.GetGt()) &&
				(r.Lte == nil || x <= r.GetLte()) && (r.Gte == nil || x >= r.GetGte()) {
				return true, nil
			}
		}
		return false, nil
	}
	return false, status.Errorf(codes.InvalidArgument, "Wrong input: field condition on %q has no match, range, is_empty or is_null", fc.GetKey())
}

func matchValue(m *qdrant.Match, values []*qdrant.Value) (bool, error) {
	anyOf := func(pred func(*qdrant.Value) bool) bool { return slices.ContainsFunc(values, pred) }
	switch o := m.GetMatchValue().(type) {
	case *qdrant.Match_Keyword:
		return anyOf(func(v *qdrant.Value) bool { s, ok := str(v); return ok && s == o.Keyword }), nil
	case *qdrant.Match_Integer:
		return anyOf(func(v *qdrant.Value) bool { i, ok := integer(v); return ok && i == o.Integer }), nil
	case *qdrant.Match_Boolean:
		return anyOf(func(v *qdrant.Value) bool {
			b, ok := v.GetKind().(*qdrant.Value_BoolValue)
			return ok && b.BoolValue == o.Boolean
		}), nil
	case *qdrant.Match_Keywords:
		return anyOf(func(v *qdrant.Value) bool { s, ok := str(v); return ok && slices.Contains(o.Keywords.GetStrings(), s) }), nil
	case *qdrant.Match_Integers:
		return anyOf(func(v *qdrant.Value) bool {
			i, ok := integer(v)
			return ok && slices.Contains(o.Integers.GetIntegers(), i)
		}), nil
	case *qdrant.Match_ExceptKeywords:
		return anyOf(func(v *qdrant.Value) bool {
			s, ok := str(v)
			return !ok || !slices.Contains(o.ExceptKeywords.GetStrings(), s)
		}), nil
	case *qdrant.Match_ExceptIntegers:
		return anyOf(func(v *qdrant.Value) bool {
			i, ok := integer(v)
			return !ok || !slices.Contains(o.ExceptIntegers.GetIntegers(), i)
		}), nil
	}
	return false, status.Errorf(codes.Unimplemented, "qdranttest: match %T is not supported (full-text matching needs a text index)", m.GetMatchValue())
}

// lookup resolves a Qdrant key path ("a.b", "a[].b", "a[]") to the values
// it reaches; arrays met on the way are traversed. Missing keys yield none.
func lookup(payload map[string]*qdrant.Value, key string) []*qdrant.Value {
	parts := strings.Split(key, ".")
	var cur []*qdrant.Value
	first := strings.TrimSuffix(parts[0], "[]")
	if v, ok := payload[first]; ok {
		cur = []*qdrant.Value{v}
	}
	for i, part := range parts {
		if i > 0 {
			name := strings.TrimSuffix(part, "[]")
			var next []*qdrant.Value
			for _, v := range cur {
				for _, e := range elements(v) {
					if st, ok := e.GetKind().(*qdrant.Value_StructValue); ok {
						if f, ok := st.StructValue.GetFields()[name]; ok {
							next = append(next, f)
						}
					}
				}
			}
			cur = next
		}
		if strings.HasSuffix(part, "[]") {
			var next []*qdrant.Value
			for _, v := range cur {
				if l, ok := v.GetKind().(*qdrant.Value_ListValue); ok {
					next = append(next, l.ListValue.GetValues()...)
				}
			}
			cur = next
		}
	}
	return cur
}

// elements is v's elements if it is a list, else v itself.
func elements(v *qdrant.Value) []*qdrant.Value {
	if l, ok := v.GetKind().(*qdrant.Value_ListValue); ok {
		return l.ListValue.GetValues()
	}
	return []*qdrant.Value{v}
}

func flatten(vs []*qdrant.Value) []*qdrant.Value {
	var out []*qdrant.Value
	for _, v := range vs {
		out = append(out, elements(v)...)
	}
	return out
}

// isEmpty: the key is missing, null, or an empty array.
func isEmpty(vs []*qdrant.Value) bool {
	for _, v := range flatten(vs) {
		if _, null := v.GetKind().(*qdrant.Value_NullValue); !null {
			return false
		}
	}
	return true
}

// isNull: the key exists with the value null.
func isNull(vs []*qdrant.Value) bool {
	for _, v := range vs {
		if _, null := v.GetKind().(*qdrant.Value_NullValue); null {
			return true
		}
	}
	return false
}

func str(v *qdrant.Value) (string, bool) {
	s, ok := v.GetKind().(*qdrant.Value_StringValue)
	if !ok {
		return "", false
	}
	return s.StringValue, true
}

func integer(v *qdrant.Value) (int64, bool) {
	i, ok := v.GetKind().(*qdrant.Value_IntegerValue)
	if !ok {
		return 0, false
	}
	return i.IntegerValue, true
}

func number(v *qdrant.Value) (float64, bool) {
	switch k := v.GetKind().(type) {
	case *qdrant.Value_IntegerValue:
		return float64(k.IntegerValue), true
	case *qdrant.Value_DoubleValue:
		return k.DoubleValue, true
	}
	// Qdrant's range applies to numbers only; a numeric string is not one.
	return 0, false
}

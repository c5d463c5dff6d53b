package upstream

// maxStoredResponses bounds the responses kept for previous_response_id; the
// oldest is forgotten first.
const maxStoredResponses = 10000

// storedResponses keeps, per response id, the whole conversation up to and
// including that response's output, so a later request can continue it with
// previous_response_id. The caller holds Server.mu.
type storedResponses struct {
	limit int
	convs map[string][]convItem
	order []string // insertion order, oldest first
}

func newStoredResponses(limit int) storedResponses {
	return storedResponses{limit: limit, convs: make(map[string][]convItem)}
}

func (st *storedResponses) put(id string, conv []convItem) {
	if _, ok := st.convs[id]; !ok {
		st.order = append(st.order, id)
	}
	st.convs[id] = conv
	for len(st.order) > st.limit {
		delete(st.convs, st.order[0])
		st.order = st.order[1:]
	}
}

func (st *storedResponses) get(id string) ([]convItem, bool) {
	conv, ok := st.convs[id]
	return conv, ok
}

// storeResponse remembers conv under id.
func (s *Server) storeResponse(id string, conv []convItem) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stored.put(id, conv)
}

// storedConversation returns the conversation stored under id.
func (s *Server) storedConversation(id string) ([]convItem, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stored.get(id)
}

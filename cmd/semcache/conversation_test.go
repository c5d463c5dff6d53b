package main

import (
	"encoding/json"
	"testing"
)

// TestConversationAfterTheSameAnswer: over HTTP, a follow-up in a
// conversation whose opening was reworded but answered with the very same
// text (as semcache serves it) hits the first conversation's follow-up;
// after another answer, or another opening, it does not.
func TestConversationAfterTheSameAnswer(t *testing.T) {
	up, upURL := simUpstream(t)
	s := start(t, upURL, t.TempDir())
	const answer = "The human heart has four chambers: two atria receive blood and two ventricles pump it out, and four valves keep it flowing one way through them."
	conv := func(opening, reply, followup string) string {
		b, _ := json.Marshal(map[string]any{"model": "sim-gpt", "messages": []map[string]string{
			{"role": "user", "content": opening}, {"role": "assistant", "content": reply}, {"role": "user", "content": followup}}})
		return string(b)
	}
	first := ask(t, s.api, "k", conv("Describe the structure of the human heart.", answer, "how many chambers does it have"))
	if first.cache != "miss" {
		t.Fatalf("first conversation: %+v", first)
	}
	waitMetric(t, s.admin, "semcache_writeback_written_total 1")
	calls := up.ChatCalls()
	tests := []struct {
		name, body, want string
	}{
		{"reworded opening, same answer", conv("Can you explain the human heart's structure?", answer, "how many chambers does it have"), "hit-semantic"},
		{"reworded opening, other answer", conv("Can you explain the human heart's structure?", answer+" Each beat starts in the sinoatrial node.", "how many chambers does it have"), "miss"},
		{"another opening, same words after", conv("Describe the structure of an engine.", "An engine has cylinders, pistons, a crankshaft, valves, a camshaft and a block that holds them together, with oil and coolant passages.", "how many chambers does it have"), "miss"},
	}
	for _, tt := range tests {
		a := ask(t, s.api, "k", tt.body)
		if a.cache != tt.want || (tt.want == "hit-semantic" && a.content != first.content) {
			t.Errorf("%s: X-Semcache %q (similarity %s), want %s", tt.name, a.cache, a.sim, tt.want)
		}
	}
	if got := up.ChatCalls() - calls; got != 2 {
		t.Errorf("upstream calls = %d, want 2", got)
	}
}

// TestConversationAfterAnotherAnswer: the same opening answered
// differently (sampling, other tool results) makes the same follow-up
// another question: "double it" after "42" is not "double it" after "17".
func TestConversationAfterAnotherAnswer(t *testing.T) {
	_, upURL := simUpstream(t)
	s := start(t, upURL, t.TempDir())
	conv := func(reply string) string {
		b, _ := json.Marshal(map[string]any{"model": "sim-gpt", "messages": []map[string]string{
			{"role": "user", "content": "Pick a random number between 1 and 100."}, {"role": "assistant", "content": reply}, {"role": "user", "content": "Now double it."}}})
		return string(b)
	}
	if a := ask(t, s.api, "k", conv("42")); a.cache != "miss" {
		t.Fatalf("first: %+v", a)
	}
	waitMetric(t, s.admin, "semcache_writeback_written_total 1")
	if a := ask(t, s.api, "k", conv("17")); a.cache != "miss" {
		t.Fatalf("the same follow-up after another answer: X-Semcache %q (similarity %s), want miss", a.cache, a.sim)
	}
	if a := ask(t, s.api, "k", conv("42")); a.cache != "hit-exact" {
		t.Fatalf("the same conversation again: %+v", a)
	}
}

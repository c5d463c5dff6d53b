package verify

import (
	"context"
	"fmt"
	"hash/fnv"
	"math"
	"reflect"
	"strings"
	"sync"
	"testing"
	"unicode"
)

// bagEncoder is a test encoder: a normalised bag of lower-case words over
// a hashed space, so texts with the same words embed the same.
type bagEncoder struct{}

func (bagEncoder) Embed(_ context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	for i, t := range texts {
		v := make([]float32, 256)
		for _, w := range strings.FieldsFunc(strings.ToLower(t), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
			h := fnv.New32a()
			h.Write([]byte(w))
			v[h.Sum32()%256]++
		}
		var n float64
		for _, x := range v {
			n += float64(x * x)
		}
		for j := range v {
			if n > 0 {
				v[j] /= float32(math.Sqrt(n))
			}
		}
		out[i] = v
	}
	return out, nil
}

// newVerifier builds a verifier whose rules decide alone (the calibrated
// score is switched off unless opts asks for a model), with the test
// encoder for the deletion test.
func newVerifier(t testing.TB, opts Options) *Verifier {
	t.Helper()
	if opts.Encoder == nil {
		opts.Encoder = bagEncoder{}
	}
	if opts.Model == nil {
		opts.Disable = append(opts.Disable, ReasonScore)
	}
	v, err := New(opts)
	if err != nil {
		t.Fatalf("New(%+v): %v", opts, err)
	}
	return v
}

func TestNewValidates(t *testing.T) {
	_, err := New(Options{
		DifferenceMin: 1.5,
		MinScore:      -2,
		Disable:       []Reason{"typos"},
		Synonyms:      [][]string{{"one"}, {"two words", "x"}},
	})
	if err == nil {
		t.Fatal("New accepted invalid options")
	}
	for _, want := range []string{"DifferenceMin", "MinScore", `"typos"`, "group 0 has 1 words", `"two words" is not a single word`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	v, err := New(Options{})
	if err != nil {
		t.Fatalf("New(zero Options): %v", err)
	}
	if v.diffMin != DefaultDifferenceMin || v.model != LexicalModel || v.cutoff != LexicalModel.CutoffFor(LexicalModel.Target) {
		t.Errorf("defaults: DifferenceMin %v, model %q, cut-off %+v", v.diffMin, v.model.Name, v.cutoff)
	}
}

func TestReasons(t *testing.T) {
	got := Reasons()
	want := map[Reason]bool{ReasonNumbers: true, ReasonNegation: true, ReasonDirection: true, ReasonIntent: true, ReasonDifference: true, ReasonScore: true, ReasonOutranked: true}
	if len(got) != len(want) {
		t.Fatalf("Reasons() = %v, want the %d reasons", got, len(want))
	}
	for _, r := range got {
		if !want[r] {
			t.Errorf("unexpected reason %q", r)
		}
		delete(want, r)
	}
	if len(want) > 0 {
		t.Errorf("missing reasons %v", want)
	}
}

// rejectCases must be rejected for the given reason, in both directions.
var rejectCases = []struct {
	q, c   string
	reason Reason
}{
	// numbers
	{"How do I undo the last 3 git commits?", "How do I undo the last 5 git commits?", ReasonNumbers},
	{"How do I install Python 3.11 on Ubuntu?", "How do I install Python 3.12 on Ubuntu?", ReasonNumbers},
	{"Convert 100 USD to EUR", "Convert 1000 USD to EUR", ReasonNumbers},
	{"Convert 1,000 USD to EUR", "Convert 10,000 USD to EUR", ReasonNumbers},
	{"Schedule a job every 5 minutes", "Schedule a job every fifteen minutes", ReasonNumbers},
	{"Who was the 2nd president?", "Who was the third president?", ReasonNumbers},
	{"What happened in 1066?", "What happened in 1666?", ReasonNumbers},
	{"Is 50% of 80 more than 30?", "Is 60% of 80 more than 30?", ReasonNumbers},
	{"Meeting at 9am", "Meeting at 9pm", ReasonNumbers},
	{"Set the timer for 9:30", "Set the timer for 9:45", ReasonNumbers},
	{"Upgrade to version 1.2.3", "Upgrade to version 1.2.4", ReasonNumbers},
	{"Is -5 degrees cold?", "Is 5 degrees cold?", ReasonNumbers},
	{"Salary of $10k a year", "Salary of $100k a year", ReasonNumbers},
	{"What is twenty-five times four?", "What is twenty-six times four?", ReasonNumbers},
	{"Rent for two hundred dollars", "Rent for three hundred dollars", ReasonNumbers},
	{"Events on 2023-03-05", "Events on 2023-03-06", ReasonNumbers},
	{"Sort 3,1,2", "Sort 3,1,4", ReasonNumbers},
	{"What is the integral of x^2?", "What is the integral of x^3?", ReasonNumbers},
	{"How many players are on a team?", "How many players are on 2 teams?", ReasonNumbers},
	{"I was charged twice", "I was charged three times", ReasonNumbers},
	{"Is 91 a prime number?", "Is 97 a prime number?", ReasonNumbers},

	// negation
	{"Is it safe to eat raw cookie dough?", "Is it unsafe to eat raw cookie dough?", ReasonNegation},
	{"Is it legal to carry a knife in the UK?", "Is it illegal to carry a knife in the UK?", ReasonNegation},
	{"Why is my React component rendering?", "Why is my React component not rendering?", ReasonNegation},
	{"Why does my car start?", "Why doesn't my car start?", ReasonNegation},
	{"How do I make pancakes with milk?", "How do I make pancakes without milk?", ReasonNegation},
	{"Is it possible to get sick?", "Is it possible to never get sick?", ReasonNegation},
	{"Which countries require a visa?", "Which countries require no visa?", ReasonNegation},
	{"Everybody replied to my email", "Nobody replied to my email", ReasonNegation},
	{"How do I install a package with pip?", "How do I uninstall a package with pip?", ReasonNegation},
	{"How do I set an environment variable?", "How do I unset an environment variable?", ReasonNegation},
	{"Is this mushroom edible?", "Is this mushroom inedible?", ReasonNegation},
	{"I can log in", "I cannot log in", ReasonNegation},
	{"How do I encrypt a file with GPG?", "How do I decrypt a file with GPG?", ReasonNegation},
	{"How do I upload a file?", "How do I download a file?", ReasonNegation},
	{"How do I enable two-factor authentication?", "How do I disable two-factor authentication?", ReasonNegation},
	{"What is the largest country in Africa?", "What is the smallest country in Africa?", ReasonNegation},
	{"What is the best time to visit Iceland?", "What is the worst time to visit Iceland?", ReasonNegation},
	{"Sort the list in ascending order", "Sort the list in descending order", ReasonNegation},
	{"Can you make it more formal?", "Can you make it less formal?", ReasonNegation},
	{"What is overfitting?", "What is underfitting?", ReasonNegation},
	{"What is the maximum size of an item?", "What is the minimum size of an item?", ReasonNegation},
	{"Stocks held over a year", "Stocks held under a year", ReasonNegation},
	{"Neither the mouse nor the keyboard works", "The mouse and the keyboard work", ReasonNegation},
	{"Coffee with sugar", "Coffee without sugar", ReasonNegation},

	// direction
	{"How do I convert a string to an integer in Python?", "How do I convert an integer to a string in Python?", ReasonDirection},
	{"Convert 350 Fahrenheit to Celsius", "Convert 350 Celsius to Fahrenheit", ReasonDirection},
	{"Translate English to French", "Translate French to English", ReasonDirection},
	{"Translate hello from English to French", "Translate hello from French into English", ReasonDirection},
	{"How do I migrate from MySQL to PostgreSQL?", "How do I migrate from PostgreSQL to MySQL?", ReasonDirection},
	{"Is Python faster than Java?", "Is Java faster than Python?", ReasonDirection},
	{"Is an index fund better than an ETF?", "Is an ETF better than an index fund?", ReasonDirection},
	{"Is brown rice healthier than white rice?", "Is white rice healthier than brown rice?", ReasonDirection},
	{"Python vs Java", "Java vs Python", ReasonDirection},
	{"Kotlin versus Scala for Android", "Scala versus Kotlin for Android", ReasonDirection},
	{"Is a > b here?", "Is b > a here?", ReasonDirection},
	{"Copy a file from the container to the host", "Copy a file from the host to the container", ReasonDirection},
	{"Should I pay off debt before investing?", "Should I invest before paying off debt?", ReasonDirection},
	{"Does differentiability imply continuity?", "Does continuity imply differentiability?", ReasonDirection},
	{"What can I use instead of buttermilk?", "What can I use buttermilk instead of?", ReasonDirection},
	{"How many tablespoons are in a cup?", "How many cups are in a tablespoon?", ReasonDirection},
	{"What is 2 to the power of 10?", "What is 10 to the power of 2?", ReasonDirection},
	{"Is every square a rectangle?", "Is every rectangle a square?", ReasonDirection},
	{"What time is it in Tokyo when it is 9am in London?", "What time is it in London when it is 9am in Tokyo?", ReasonDirection},
	{"Redirect HTTP to HTTPS in nginx", "Redirect HTTPS to HTTP in nginx", ReasonDirection},

	// entities
	{"What is the capital of France?", "What is the capital of Germany?", ReasonDifference},
	{"How do I reverse a list in Python?", "How do I reverse a list in Java?", ReasonDifference},
	{"Is Kotlin good for Android?", "Is Scala good for Android?", ReasonDifference},
	{"how do i learn python", "how do i learn java", ReasonDifference},
	{"How long do I boil eggs?", "How long do I boil potatoes?", ReasonDifference},
	{"How do I reverse a list in Python?", "How do I sort a list in Python?", ReasonDifference},
	{"How do I delete a local git branch?", "How do I delete a remote git branch?", ReasonNegation},
	{"How do I install Docker?", "How do I install Docker on Ubuntu?", ReasonDifference},
	{"What does os.path.join do?", "What does os.path.split do?", ReasonDifference},
	{"What does my_function return?", "What does your_function return?", ReasonDifference},
	{"What does HTTPS mean?", "What does HTTP mean?", ReasonDifference},
	{"Translate 'good morning' into Italian", "Translate 'good night' into Italian", ReasonDifference},
	{"Symptoms of vitamin K deficiency", "Symptoms of vitamin D deficiency", ReasonDifference},
	{"Symptoms of vitamin B12 deficiency", "Symptoms of vitamin D deficiency", ReasonDifference},
	{"How much caffeine is in coffee?", "How much caffeine is in decaf coffee?", ReasonDifference},
	{"I can't log in to my account", "I can log in to my account but can't see my orders", ReasonDifference},
	{"What is the capital of Australia?", "What is the capital of Austria?", ReasonDifference},
	{"Best time to visit Iceland", "Best time to visit Ireland", ReasonDifference},
	{"What is the time complexity of quicksort?", "What is the space complexity of quicksort?", ReasonDifference},
	{"What is the square root of 144?", "What is the square of 144?", ReasonDifference},
	{"Why did the Western Roman Empire fall?", "Why did the Eastern Roman Empire fall?", ReasonNegation},
	// a person and a thing exchanging roles around the same word
	{"How much notice does my landlord have to give me?", "How much notice do I have to give my landlord?", ReasonDirection},
	{"Should my doctor tell me the results?", "Should I tell my doctor the results?", ReasonDirection},
	// a comparison against a question about one of its sides
	{"What is deep learning?", "What is the difference between machine learning and deep learning?", ReasonIntent},
	{"What is TCP?", "TCP vs UDP", ReasonIntent},
	{"How does Kafka work?", "How does Kafka compare to RabbitMQ?", ReasonIntent},
}

func TestCheckRejects(t *testing.T) {
	v := newVerifier(t, Options{})
	for _, tc := range rejectCases {
		for _, dir := range [][2]string{{tc.q, tc.c}, {tc.c, tc.q}} {
			got := v.Check(dir[0], dir[1], 0.8)
			if got.OK || got.Reason != tc.reason {
				t.Errorf("Check(%q, %q) = %+v, want rejected for %s", dir[0], dir[1], got, tc.reason)
				continue
			}
			if !strings.HasPrefix(got.Detail, string(tc.reason)) {
				t.Errorf("Check(%q, %q).Detail = %q, want it to start with %q", dir[0], dir[1], got.Detail, tc.reason)
			}
		}
	}
}

// paraphrases must be accepted in both directions.
var paraphrases = [][2]string{
	{"How do I reverse a list in Python?", "python: reverse a list"},
	{"How do I reverse a list in Python?", "HOW DO I REVERSE A LIST IN PYTHON"},
	{"How do I reverse a list in Python?", "how do i reverse a list in python"},
	{"How do I reverse a list in Python?", "Hi! Could you please show me how to reverse a list in Python? Thanks a lot."},
	{"How can I reverse a list in Python", "whats the way to revrese a list in pyhton"},
	{"What is the difference between a list and a tuple in Python?", "Python: tuple vs list, what's the difference?"},
	{"What is the difference between TCP and UDP?", "difference between UDP and TCP"},
	{"Is Python faster than Java?", "Is Java slower than Python?"},
	{"Are cats smarter than dogs?", "are dogs dumber than cats"},
	{"Which is bigger, Texas or California?", "Is California bigger than Texas?"},
	{"Can I take ibuprofen with paracetamol?", "Can I take paracetamol with ibuprofen?"},
	{"What's the difference between a list and an array?", "What is the difference between a list and an array?"},
	{"I can't log in to my account", "I cannot log into my account"},
	{"Why doesn't my WiFi work?", "why does my wifi not work"},
	{"Why is my laptop not charging?", "laptop won't charge, why?"},
	{"How do I make pancakes without eggs?", "eggless pancake recipe"},
	{"Which countries don't require a visa for Indians?", "visa-free countries for Indians"},
	{"How do I exit vim?", "How do I quit vim?"},
	{"How do I fix a leaking faucet?", "how to repair a leaking tap"},
	{"How long does cooked chicken last in the fridge?", "how long does cooked chicken last in the refrigerator"},
	{"Convert 1,000 USD to EUR", "convert 1000 dollars to euros"},
	{"Can my employer fire me for being sick?", "Can I be fired by my employer for being sick?"},
	{"Can you help me fix my code?", "Can I get help from you to fix my code?"},
	{"Which U.S. states border Canada?", "Which states of the US border Canada?"},
	{"Convert 100 USD to EUR", "how much is $100 in euros"},
	{"Is 91 a prime number?", "is ninety-one prime"},
	{"How do I select the first 10 rows in SQL?", "sql get first ten rows"},
	{"How do I merge two dictionaries in Python?", "python merge 2 dicts"},
	{"How many calories are in a banana?", "calories in one banana"},
	{"How many tablespoons are in a cup?", "how many tbsp in 1 cup"},
	{"Who was the first president of the United States?", "first US president?"},
	{"When did World War 2 end?", "When did WW2 end?"},
	{"Is 3.0 bigger than 2?", "is 3 bigger than 2"},
	{"Meeting at 9:00", "meeting at 9am"},
	{"Is 50% a majority?", "is fifty percent a majority"},
	{"How do I enable two-factor authentication?", "how to turn on 2FA"},
	{"How many push ups should I do a day?", "how many pushups should i do per day"},
	{"How do I jump start a car?", "how to jumpstart a car"},
	{"Why am I getting a null pointer exception in Java?", "why a NullPointerException in java"},
	{"How do I upgrade Node.js to the latest version?", "how to update node to the newest version"},
	{"What is the capital of France?", "What's France's capital?"},
	{"Is tap water safe to drink in Mexico?", "can you drink the tap water in mexico safely"},
	{"How do I center a div in CSS?", "how do i centre a div with css"},
	{"How do I reset my password?", "how do i reset my pasword"},
	{"How do I clear the cache in Chrome?", "how do I clear the cahce in chrome"},
	{"Best password manager for families", "what's the best password manager for a family"},
	{"How do I sharpen a kitchen knife?", "how to sharpen kitchen knives"},
	{"How often should I water a cactus?", "how often should I water cacti"},
	{"Do I need a visa to visit Japan as a US citizen?", "Do I need a visa to visit Japan as an American citizen?"},
	{"What plug type is used in the UK?", "which plug type is used in the United Kingdom"},
	{"Why won't my car start?", "my car won't start, why?"},
	{"Is it better to buy or rent a house?", "is it better to rent or buy a home"},
	{"Tell me a joke", "Tell me a joke please"},
	{"What is machine learning?", "Can you explain what ML is?"},
	{"How far is Paris from London?", "distance between London and Paris"},
}

func TestCheckAcceptsParaphrases(t *testing.T) {
	v := newVerifier(t, Options{})
	for _, p := range paraphrases {
		for _, dir := range [][2]string{{p[0], p[1]}, {p[1], p[0]}} {
			if got := v.Check(dir[0], dir[1], 0.8); !got.OK {
				t.Errorf("Check(%q, %q) = %+v, want OK", dir[0], dir[1], got)
			}
		}
	}
}

func TestIdenticalTextsAccepted(t *testing.T) {
	v := newVerifier(t, Options{})
	for _, tc := range rejectCases {
		for _, s := range []string{tc.q, tc.c} {
			if got := v.Check(s, s, 1); !got.OK {
				t.Errorf("Check(%q, itself) = %+v, want OK", s, got)
			}
		}
	}
}

func TestOptions(t *testing.T) {
	const q, c = "How do I undo the last 3 git commits?", "How do I undo the last 5 git commits?"
	v := newVerifier(t, Options{Disable: []Reason{ReasonNumbers}})
	if got := v.Check(q, c, 0.8); !got.OK {
		t.Errorf("numbers disabled: Check = %+v, want OK", got)
	}

	if got := newVerifier(t, Options{}).Check("Python vs Java", "Java vs Python", 0.9); got.OK {
		t.Error("default: Python vs Java accepted for Java vs Python")
	}
	if got := newVerifier(t, Options{SymmetricVersus: true}).Check("Python vs Java", "Java vs Python", 0.9); !got.OK {
		t.Errorf("SymmetricVersus: Check = %+v, want OK", got)
	}

	const base, added = "Can you get the flu twice in one season?", "Can you get the flu shot twice in one season?"
	if got := newVerifier(t, Options{}).Check(base, added, 0.9); got.OK || got.Reason != ReasonDifference {
		t.Errorf("a one-sided word in an otherwise identical request: Check = %+v, want rejected for difference", got)
	}
	if got := newVerifier(t, Options{Disable: []Reason{ReasonDifference}}).Check(base, added, 0.9); !got.OK {
		t.Errorf("difference disabled: Check = %+v, want OK", got)
	}
	if got := newVerifier(t, Options{DifferenceMin: 0.999}).Check("A dog runs fast on the beach.", "The black dog runs fast on the beach.", 0.9); !got.OK {
		t.Errorf("a description with an added detail: Check = %+v, want OK (the deletion test is for requests)", got)
	}

	syn := newVerifier(t, Options{Synonyms: [][]string{{"kubernetes", "kube"}}})
	if got := syn.Check("How do I restart a kube pod?", "How do I restart a kubernetes pod?", 0.9); !got.OK {
		t.Errorf("extra synonyms: Check = %+v, want OK", got)
	}
	if got := newVerifier(t, Options{}).Check("How do I restart a kube pod?", "How do I restart a kubernetes pod?", 0.9); got.OK {
		t.Error("without the extra synonym kube/kubernetes was accepted")
	}
}

func TestNumbersNormalised(t *testing.T) {
	v := newVerifier(t, Options{})
	cases := []struct {
		text string
		want []string
	}{
		{"1,000 and 1000", []string{"1000", "1000"}},
		{"3.0 vs 3", []string{"3", "3"}},
		{"five and 5", []string{"5", "5"}},
		{"the 2nd and second", []string{"2", "2"}},
		{"twenty-five, one hundred and five", []string{"25", "105"}},
		{"3 million people", []string{"3000000"}},
		{"$1.5k", []string{"1500"}},
		{"python 3.11.0 or 3.12.1", []string{"3.11", "3.12.1"}},
		{"at 9pm, 12am or 9:30", []string{"0", "9.5", "21"}},
		{"-5 degrees to 10", []string{"-5", "10"}},
		{"50% or 50 percent", []string{"50", "50"}},
		{"3,1,2", []string{"2", "3"}}, // 1 is never compared
		{"a dozen eggs", []string{"12"}},
		{"2023-03-05", []string{"3", "5", "2023"}},
	}
	for _, tc := range cases {
		var a analysis
		a.analyze(v, tc.text)
		var got []string
		for _, k := range a.numbers(nil) {
			got = append(got, k.String())
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("numbers(%q) = %v, want %v", tc.text, got, tc.want)
		}
	}
}

func TestStem(t *testing.T) {
	groups := [][]string{
		{"egg", "eggs"},
		{"boil", "boiling", "boiled", "boils"},
		{"city", "cities"},
		{"fly", "flies"},
		{"try", "tries", "tried"},
		{"run", "running"},
		{"install", "installed", "installing", "installs"},
		{"make", "making", "makes"},
		{"box", "boxes"},
		{"process", "processes"},
		{"carry", "carried", "carrying"},
		{"safe", "safely"},
		{"string", "strings"},
		{"family", "families"},
	}
	for _, g := range groups {
		want := stem(g[0])
		for _, w := range g[1:] {
			if got := stem(w); got != want {
				t.Errorf("stem(%q) = %q, want %q like stem(%q)", w, got, want, g[0])
			}
		}
	}
	for _, w := range []string{"bus", "cactus", "analysis", "thing", "string", "news"} {
		if got := stem(w); !strings.HasPrefix(w, got) || len(got) < 3 {
			t.Errorf("stem(%q) = %q, want a prefix of at least 3 letters", w, got)
		}
	}
	if stem("Ünïcode") != "Ünïcode" {
		t.Error("non-ASCII words must not be stemmed")
	}
}

func TestConcurrentChecks(t *testing.T) {
	v := newVerifier(t, Options{})
	want := make([]bool, len(rejectCases))
	for i, tc := range rejectCases {
		want[i] = v.Check(tc.q, tc.c, 0.8).OK
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8*len(rejectCases))
	for range 8 {
		wg.Go(func() {
			for i, tc := range rejectCases {
				if got := v.Check(tc.q, tc.c, 0.8).OK; got != want[i] {
					errs <- fmt.Sprintf("Check(%q, %q) = %v concurrently, %v alone", tc.q, tc.c, got, want[i])
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func FuzzCheck(f *testing.F) {
	for _, tc := range rejectCases {
		f.Add(tc.q, tc.c, float32(0.8))
	}
	for _, p := range paraphrases {
		f.Add(p[0], p[1], float32(0.95))
	}
	f.Add("", "", float32(0))
	f.Add("'\"“", "$-5.5.5,000:30", float32(1))
	f.Add("c++ vs c#", "C# vs C++", float32(0.99))
	f.Add("İstanbul ẞ ǅ", "ﬁ ﬀ 𝔘𝔫𝔦", float32(-1))
	v := newVerifier(f, Options{})
	f.Fuzz(func(t *testing.T, a, b string, score float32) {
		ab := v.Check(a, b, score)
		ba := v.Check(b, a, score)
		if ab.OK != ba.OK {
			t.Errorf("asymmetric: Check(%q, %q) = %+v, reversed %+v", a, b, ab, ba)
		}
		if !ab.OK && (ab.Reason == "" || ab.Detail == "") {
			t.Errorf("rejection without reason or detail: %+v", ab)
		}
		if ab.OK && (ab.Reason != "" || ab.Detail != "") {
			t.Errorf("acceptance with a reason: %+v", ab)
		}
	})
}

func BenchmarkCheck(b *testing.B) {
	v := newVerifier(b, Options{})
	pairs := [][2]string{
		{"How do I convert a string to an integer in Python?", "python convert string to integer"},
		{"What is the capital of France?", "What is the capital of Germany?"},
		{"How do I schedule a cron job to run every 5 minutes?", "How do I schedule a cron job to run every 15 minutes?"},
		{"Is it safe to eat raw cookie dough?", "Is raw cookie dough safe to eat?"},
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		p := pairs[i%len(pairs)]
		v.Check(p[0], p[1], 0.9)
		i++
	}
}

// BenchmarkCheckLong checks two long, different texts (a pasted document
// against another): the cost must stay linear in their length.
func BenchmarkCheckLong(b *testing.B) {
	v := newVerifier(b, Options{})
	var x, y strings.Builder
	for i := range 400 {
		fmt.Fprintf(&x, "step %d: convert the user_%d record to JSON and not upload it before noon. ", i, i)
		fmt.Fprintf(&y, "Step %d - encrypt file%d, then download it into bucket-%d unless Kotlin is faster than Scala. ", i, i*7, i%13)
	}
	q, c := x.String(), y.String()
	b.ReportAllocs()
	for b.Loop() {
		v.Check(q, c, 0.95)
	}
}

// TestLongNumbersExact: identifiers are compared digit for digit, never
// within a relative tolerance.
func TestLongNumbersExact(t *testing.T) {
	v := newVerifier(t, Options{})
	tests := []struct {
		q, c string
		ok   bool
	}{
		{"What is the status of order 48213377105?", "What is the status of order 48213377112?", false},
		{"What is the status of order 48213377105?", "status of order #48213377105", true},
		{"Track parcel 12345678901234567890", "Track parcel 12345678901234567891", false},
		{"Track parcel 12345678901234567890", "track parcel 12,345,678,901,234,567,890", true},
		{"Is 1.1 million a lot?", "is 1,100,000 a lot", true},
		{"Is 0.30 enough?", "is 0.3 enough", true},
		{"Is 0.3 enough?", "is 0.300000001 enough", false},
	}
	for _, tc := range tests {
		got := v.Check(tc.q, tc.c, 0.9)
		if got.OK != tc.ok {
			t.Errorf("Check(%q, %q) = %+v, want OK=%v", tc.q, tc.c, got, tc.ok)
		}
		if !tc.ok && got.Reason != ReasonNumbers {
			t.Errorf("Check(%q, %q) rejected for %s, want numbers", tc.q, tc.c, got.Reason)
		}
	}
}

// TestAnalyzerQuotesAndInterjections covers two analyser bugs: a closing
// quote right after ")" or "]" must close the quote, and a leading "No,"
// is an interjection, not a negation.
func TestAnalyzerQuotesAndInterjections(t *testing.T) {
	v := newVerifier(t, Options{})
	var a analysis
	a.analyze(v, "What does `len(x)` return for an empty list?")
	for _, tk := range a.toks {
		if tk.surf == "return" || tk.surf == "empty" || tk.surf == "list" {
			if tk.has(fQuoted) {
				t.Errorf("%q after a closed quote is still marked quoted", tk.surf)
			}
		}
	}
	a.analyze(v, "Is 'a [b]' a valid glob pattern?")
	for _, tk := range a.toks {
		if tk.surf == "valid" && tk.has(fQuoted) {
			t.Errorf("%q after a closed quote is still marked quoted", tk.surf)
		}
	}
	a.analyze(v, "No, I meant how do I delete a branch in git?")
	if a.negs != 0 {
		t.Errorf("leading %q counted as %d negations, want 0", "No,", a.negs)
	}
	a.analyze(v, "No sugar recipes for cookies")
	if a.negs != 1 {
		t.Errorf("%q counted %d negations, want 1", "No sugar", a.negs)
	}
	if got := v.Check("No, I meant how do I delete a branch in git?", "how do I delete a branch in git", 0.9); got.Reason == ReasonNegation {
		t.Errorf("leading No, rejected as negation: %+v", got)
	}
}

// TestCheckAllTestsLazily: among requests that reach the cut-off, the
// deletion test runs best first and stops at the first that passes; a
// rejected best candidate lets the next one be tested.
func TestCheckAllTestsLazily(t *testing.T) {
	enc := &countingEncoder{}
	v := newVerifier(t, Options{Encoder: enc})
	const q = "How do I record a video call on my phone?"
	got := v.CheckAll(context.Background(), q, []Candidate{
		{Text: "How do I record a call on my phone?", Similarity: 0.97},
		{Text: "how can I record a video call on my phone", Similarity: 0.95},
		{Text: "How do I record a video call on my phone please?", Similarity: 0.94},
	})
	if got[0].OK || got[0].Reason != ReasonDifference {
		t.Errorf("one-word difference: %+v, want rejected for difference", got[0])
	}
	okCount := 0
	for _, g := range got[1:] {
		if g.OK {
			okCount++
		}
	}
	if okCount == 0 {
		t.Errorf("no paraphrase accepted: %+v", got)
	}
	if enc.calls > 2 {
		t.Errorf("the deletion test ran %d times, want at most 2 (best first, stop at the first pass)", enc.calls)
	}
}

type countingEncoder struct {
	bagEncoder
	calls int
}

func (c *countingEncoder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	c.calls++
	return c.bagEncoder.Embed(ctx, texts)
}

// TestRulesOnly: a rules-only candidate gets the deletion test whatever
// its score (an alias's original entry must still veto).
func TestRulesOnly(t *testing.T) {
	v := newVerifier(t, Options{Model: LexicalModel, MinScore: 0.999999})
	const q = "How can I make my phone battery last longer?"
	got := v.CheckAll(context.Background(), q, []Candidate{
		{Text: "How can I make my laptop battery last longer?", Similarity: 0.8, RulesOnly: true},
		{Text: "How can I make my phone battery last longer please?", Similarity: 0.99, RulesOnly: true},
	})
	if got[0].OK || got[0].Reason != ReasonDifference {
		t.Errorf("laptop/phone, rules only: %+v, want rejected for difference", got[0])
	}
	if !got[1].OK {
		t.Errorf("same question, rules only, below the cut-off: %+v, want OK", got[1])
	}
}

// TestFeaturesAllMatchesFeatures: analysing the query once for a list of
// candidates gives each candidate the features it gets on its own, in any
// order (no state leaks from one pair to the next).
func TestFeaturesAllMatchesFeatures(t *testing.T) {
	v := newVerifier(t, Options{})
	queries := map[string][]Candidate{}
	for _, tc := range rejectCases {
		queries[tc.q] = append(queries[tc.q], Candidate{Text: tc.c})
	}
	for _, p := range paraphrases {
		queries[p[0]] = append(queries[p[0]], Candidate{Text: p[1]})
	}
	// One query against every candidate text, so pairs of very different
	// shapes follow each other.
	var all []Candidate
	for _, cs := range queries {
		all = append(all, cs...)
	}
	queries["How do I reverse a list in Python?"] = all
	for q, cands := range queries {
		got := make([]Features, len(cands))
		v.featuresAll(q, cands, got)
		for i, c := range cands {
			if want := v.Features(q, c.Text); !reflect.DeepEqual(got[i], want) {
				t.Fatalf("featuresAll(%q)[%d] (%q) = %+v, want %+v", q, i, c.Text, got[i], want)
			}
		}
	}
}

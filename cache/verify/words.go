package verify

// Word tables. They are immutable after package initialisation and shared by
// every Verifier. Entries are written in surface form; the lookup maps built
// from them key on the same normalisation the analyser applies (lower case,
// then stem), so an entry matches every inflection the stemmer folds
// together.

// commonWords are the words that carry no topic of their own: function
// words, question words, auxiliaries, politeness, and generic verbs, nouns
// and adjectives that users add or drop when they rephrase a question. Every
// other word is "rare" for the entities rule: a question about "eggs" and
// one about "potatoes" differ, one with and one without "please" do not.
const commonWords = `
a an the this that these those there here
i me my mine myself you your yours yourself we our ours us they them their
he him his she her hers it its itself one ones someone something anyone
anything everyone everything somebody anybody everybody
am is are was were be been being do does did done doing have has had having
can could will would shall should may might must ought
what whats which who whom whose when where why how whether
of in on at by for with about as into onto from to up out off over under
again further then once than too very so such just also only even still
and or but if because while until though although unless nor
some any each every all both few many much more most other another own same
different such lot lots
please pls plz kindly dear
tell explain show give help let know knows knew need needs want wants wanted
like would wonder wondering curious question ask asking answer
get gets got getting gotten make makes made use uses used using
way ways method methods thing things stuff something kind kinds type types
best good better great nice fine ok okay alright proper properly correct
correctly right easy easiest easily possible
actually really basically exactly generally usually typically normally
sure vs versus between difference differences differ compare comparison
compared degree degrees take takes took taken taking happen happens happened
cause causes caused work works worked working long
example examples instance percent percentage
problem problems issue issues
mean means meaning
yes yeah
again anyway
idea ideas tip tips advice guide tutorial
step steps
able
here there
`

// negationWords flip the polarity of a question.
const negationWords = `not no never without none nobody nothing nowhere noone neither nor avoid prevent lack stop`

// ambiguousAcronyms are common words that name an entity when written in
// capitals ("US" the country, "IT" the field).
const ambiguousAcronyms = `us it`

// synonymGroups are interchangeable words; the first word of each group is
// the canonical form. Keep groups tight: a loose group turns a question and
// a different question into the same one.
var synonymGroups = [][]string{
	{"exit", "quit"},
	{"fix", "repair", "mend"},
	{"remove", "delete", "erase", "drop", "strip", "eliminate"},
	{"big", "large", "huge", "bigger", "biggest", "larger", "largest"},
	{"small", "little", "tiny", "smaller", "smallest"},
	{"fast", "quick", "quickly", "rapid", "speedy", "faster", "fastest", "quicker"},
	{"slow", "slower", "slowest", "slowly"},
	{"cheap", "inexpensive", "affordable", "cheaper", "cheapest"},
	{"car", "automobile", "vehicle"},
	{"buy", "purchase"},
	{"start", "begin", "commence"},
	{"fridge", "refrigerator"},
	{"faucet", "tap"},
	{"leak", "drip", "leakin"},
	{"sofa", "couch"},
	{"movie", "film"},
	{"photo", "picture", "pic"},
	{"child", "kid", "children"},
	{"adult", "grownup"},
	{"colleague", "coworker"},
	{"boss", "manager"},
	{"apologize", "apologise", "apology"},
	{"increase", "raise", "boost", "improve", "rise"},
	{"decrease", "reduce", "lower"},
	{"learn", "study"},
	{"sick", "ill"},
	{"symptom", "sign"},
	{"cost", "price"},
	{"money", "fund", "funds"},
	{"transfer", "move", "migrate", "moving"},
	{"convert", "turn", "conversion"},
	{"update", "upgrade", "change"},
	{"latest", "newest", "recent", "last", "current"},
	{"error", "exception"},
	{"daily", "day"},
	{"often", "frequently", "frequent"},
	{"country", "nation"},
	{"season", "time"},
	{"dict", "dictionary"},
	{"int", "integer"},
	{"str", "string"},
	{"js", "javascript"},
	{"ts", "typescript"},
	{"py", "python"},
	{"golang", "go"},
	{"k8s", "kubernetes"},
	{"postgres", "postgresql", "psql"},
	{"node", "nodejs"},
	{"env", "environment"},
	{"var", "variable"},
	{"repo", "repository"},
	{"config", "configuration", "configure"},
	{"db", "database"},
	{"ml", "machinelearning"},
	{"ai", "artificialintelligence"},
	{"usa", "us", "america", "american", "unitedstates"},
	{"uk", "britain", "unitedkingdom"},
	{"tbsp", "tablespoon"},
	{"tsp", "teaspoon"},
	{"km", "kilometer", "kilometre"},
	{"kg", "kilogram", "kilo"},
	{"mg", "milligram"},
	{"mb", "megabyte"},
	{"gb", "gigabyte"},
	{"min", "minute"},
	{"sec", "second"},
	{"hr", "hour"},
	{"yr", "year"},
	{"f", "fahrenheit"},
	{"c", "celsius", "centigrade"},
	{"u", "you"},
	{"ur", "your"},
	{"tv", "television"},
	{"pc", "computer"},
	{"wifi", "wlan"},
	{"email", "mail"},
	{"phone", "smartphone", "cellphone", "mobile"},
	{"bp", "bloodpressure"},
	{"login", "signin", "logon"},
	{"logout", "signout", "logoff"},
	{"setup", "install", "installation"},
	{"enable", "activate"},
	{"disable", "deactivate"},
	{"waterproof", "waterresistant"},
	{"scifi", "sciencefiction"},
	{"bag", "luggage", "baggage", "suitcase"},
	{"home", "house"},
	{"winner", "won", "win"},
	{"package", "parcel"},
	{"lifespan", "live", "life"},
	{"pup", "puppy"},
	{"job", "position", "role"},
	{"novel", "book"},
	{"bbq", "barbecue"},
	{"pay", "salary"},
	{"iterate", "loop"},
	{"usd", "dollar", "buck"},
	{"eur", "euro"},
	{"gbp", "sterling"},
	{"jpy", "yen"},
	{"maximum", "max"},
	{"build", "construct"},
	{"distance", "far"},
	{"probability", "odds", "chance"},
	{"shop", "store"},
	{"restore", "recover"},
	{"vibrate", "shake"},
	{"workout", "exercise"},
	{"write", "compose", "draft"},
	{"cactus", "cacti"},
	{"knife", "knives"},
	{"person", "people"},
	{"mouse", "mice"},
	{"tooth", "teeth"},
	{"foot", "feet"},
	{"leaf", "leaves"},
	{"goose", "geese"},
}

// identifierWords are tokens mixing letters and digits that must not be
// split into a word and a number.
const identifierWords = `k8s 2fa i18n l10n a11y mp3 mp4 h264 h265 ipv4 ipv6 utf8 sha1 sha256 md5 p2p b2b b2c 401k 3d 2d 4k 5g 4g 3g`

// noStem are words whose final letters are not an inflection.
const noStem = `https http ios macos aws dns gps sms css cors sass saas paas iaas news series species`

// currencySymbols name the currency a sign stands for.
var currencySymbols = map[rune]string{'$': "usd", '€': "eur", '£': "gbp", '¥': "jpy"}

// phrases are multi-word expressions folded into one token before any rule
// runs. Keys are lower-case surface words separated by one space.
var phrases = map[string]string{
	"united states":             "unitedstates",
	"united kingdom":            "unitedkingdom",
	"great britain":             "unitedkingdom",
	"machine learning":          "machinelearning",
	"artificial intelligence":   "artificialintelligence",
	"science fiction":           "sciencefiction",
	"world war":                 "ww",
	"turn on":                   "enable",
	"switch on":                 "enable",
	"turn off":                  "disable",
	"switch off":                "disable",
	"log in":                    "login",
	"log into":                  "login",
	"sign in":                   "login",
	"sign into":                 "login",
	"log on":                    "login",
	"log out":                   "logout",
	"sign out":                  "logout",
	"log off":                   "logout",
	"get rid":                   "remove",
	"clean up":                  "remove",
	"grown up":                  "grownup",
	"grown ups":                 "grownup",
	"water resistant":           "waterresistant",
	"blood pressure":            "bloodpressure",
	"set up":                    "setup",
	"no one":                    "noone",
	"how come":                  "why",
	"pay rise":                  "raise",
	"401 k":                     "401k",
	"e mail":                    "email",
	"two factor":                "2fa",
	"two factor authentication": "2fa",
	"2 factor authentication":   "2fa",
	"2 factor":                  "2fa",
	"square root":               "sqrt",
	"sci fi":                    "sciencefiction",
	"too much":                  "excess",
	"too many":                  "excess",
}

// antonymPairs are words whose swap turns a question into its opposite.
var antonymPairs = [][2]string{
	{"safe", "dangerous"},
	{"enable", "disable"},
	{"allow", "deny"},
	{"allow", "block"},
	{"allow", "forbid"},
	{"accept", "reject"},
	{"accept", "decline"},
	{"add", "remove"},
	{"include", "exclude"},
	{"including", "excluding"},
	{"increase", "decrease"},
	{"import", "export"},
	{"encrypt", "decrypt"},
	{"encode", "decode"},
	{"compress", "decompress"},
	{"upload", "download"},
	{"buy", "sell"},
	{"win", "lose"},
	{"win", "lost"},
	{"winner", "loser"},
	{"max", "min"},
	{"maximum", "minimum"},
	{"big", "small"},
	{"best", "worst"},
	{"good", "bad"},
	{"better", "worse"},
	{"high", "low"},
	{"higher", "lower"},
	{"hot", "cold"},
	{"warm", "cold"},
	{"open", "close"},
	{"open", "closed"},
	{"start", "stop"},
	{"start", "end"},
	{"start", "finish"},
	{"before", "after"},
	{"public", "private"},
	{"short", "long"},
	{"shorter", "longer"},
	{"more", "less"},
	{"more", "fewer"},
	{"most", "least"},
	{"ascending", "descending"},
	{"horizontal", "vertical"},
	{"horizontally", "vertically"},
	{"read", "write"},
	{"push", "pull"},
	{"input", "output"},
	{"join", "split"},
	{"merge", "split"},
	{"lock", "unlock"},
	{"rise", "fall"},
	{"up", "down"},
	{"inner", "outer"},
	{"above", "below"},
	{"over", "under"},
	{"plus", "minus"},
	{"positive", "negative"},
	{"true", "false"},
	{"empty", "full"},
	{"local", "remote"},
	{"client", "server"},
	{"pass", "fail"},
	{"succeed", "fail"},
	{"success", "failure"},
	{"soft", "hard"},
	{"raw", "cooked"},
	{"attract", "repel"},
	{"same", "different"},
	{"login", "logout"},
	{"into", "out"},
	{"formal", "informal"},
	{"formal", "casual"},
	{"light", "heavy"},
	{"wet", "dry"},
	{"old", "new"},
	{"older", "newer"},
	{"young", "old"},
	{"rich", "poor"},
	{"strong", "weak"},
	{"thick", "thin"},
	{"early", "late"},
	{"morning", "evening"},
	{"day", "night"},
	{"north", "south"},
	{"east", "west"},
	{"western", "eastern"},
	{"northern", "southern"},
	{"male", "female"},
	{"men", "women"},
	{"man", "woman"},
	{"boy", "girl"},
	{"agree", "disagree"},
	{"like", "dislike"},
	{"love", "hate"},
	{"cause", "cure"},
	{"prevent", "cause"},
	{"gain", "loss"},
	{"gain", "lose"},
	{"profit", "loss"},
	{"credit", "debit"},
	{"deposit", "withdraw"},
	{"borrow", "lend"},
	{"inhale", "exhale"},
	{"arrive", "depart"},
	{"arrival", "departure"},
	{"import", "export"},
	{"sunrise", "sunset"},
	{"include", "omit"},
	{"underfit", "overfit"},
	{"underfitting", "overfitting"},
	{"subscribe", "unsubscribe"},
	{"follow", "unfollow"},
	{"connect", "disconnect"},
	{"mount", "unmount"},
	{"ascending", "descending"},
	{"ascend", "descend"},
	{"local", "remote"},
	{"symmetric", "asymmetric"},
	{"symmetrical", "asymmetrical"},
	{"sync", "async"},
	{"synchronous", "asynchronous"},
	{"typical", "atypical"},
	{"open", "close"},
	{"start", "stop"},
	{"start", "end"},
	{"begin", "end"},
	{"rise", "fall"},
	{"gain", "loss"},
	{"profit", "loss"},
	{"expensive", "cheap"},
	{"expensive", "cheapest"},
	{"hot", "cold"},
	{"wet", "dry"},
	{"push", "pull"},
	{"input", "output"},
	{"inbound", "outbound"},
	{"incoming", "outgoing"},
	{"client", "server"},
	{"sender", "receiver"},
	{"buyer", "seller"},
	{"employer", "employee"},
	{"landlord", "tenant"},
	{"parent", "child"},
	{"lend", "borrow"},
	{"give", "receive"},
	{"send", "receive"},
	{"debit", "credit"},
	{"deposit", "withdraw"},
	{"arrive", "depart"},
	{"arrival", "departure"},
	{"import", "export"},
	{"north", "south"},
	{"east", "west"},
	{"top", "bottom"},
	{"upper", "lower"},
	{"uppercase", "lowercase"},
	{"before", "after"},
	{"morning", "evening"},
	{"day", "night"},
	{"summer", "winter"},
	{"spring", "autumn"},
	{"male", "female"},
	{"man", "woman"},
	{"men", "women"},
	{"husband", "wife"},
	{"boy", "girl"},
	{"online", "offline"},
	{"public", "private"},
	{"inner", "outer"},
	{"internal", "external"},
	{"horizontal", "vertical"},
	{"long", "short"},
	{"longest", "shortest"},
	{"young", "old"},
	{"new", "old"},
	{"newest", "oldest"},
	{"positive", "negative"},
	{"success", "failure"},
	{"pass", "fail"},
	{"accept", "refuse"},
	{"win", "loss"},
	{"attack", "defend"},
	{"freeze", "thaw"},
	{"heat", "cool"},
	{"wide", "narrow"},
	{"thick", "thin"},
	{"strong", "weak"},
	{"rich", "poor"},
	{"full", "empty"},
	{"fast", "slow"},
	{"early", "late"},
}

// prefixPairs are prefixes that, on the same stem, make opposites
// ("upload"/"download", "overfitting"/"underfitting").
var prefixPairs = [][2]string{
	{"up", "down"},
	{"over", "under"},
	{"en", "de"},
	{"im", "ex"},
	{"in", "out"},
	{"pre", "post"},
	{"inc", "dec"},
	{"max", "min"},
}

// negationPrefixes turn a stem into its negation ("unsafe", "illegal").
// The number is the shortest stem (in bytes, after stemming) accepted.
var negationPrefixes = []struct {
	prefix  string
	minStem int
}{
	{"non", 3}, {"un", 3}, {"dis", 4}, {"in", 4}, {"im", 4}, {"il", 4}, {"ir", 4}, {"de", 5},
}

// comparatives map a comparative adjective to its canonical comparative and
// whether it is the opposite direction: "Java is slower than Python" is the
// same relation as "Python is faster than Java".
var comparatives = map[string]struct {
	canon string
	flip  bool
}{
	"faster": {"faster", false}, "quicker": {"faster", false}, "slower": {"faster", true},
	"better": {"better", false}, "worse": {"better", true},
	"bigger": {"bigger", false}, "larger": {"bigger", false}, "smaller": {"bigger", true},
	"higher": {"higher", false}, "lower": {"higher", true},
	"cheaper": {"cheaper", false}, "pricier": {"cheaper", true},
	"older": {"older", false}, "younger": {"older", true},
	"longer": {"longer", false}, "shorter": {"longer", true},
	"heavier": {"heavier", false}, "lighter": {"heavier", true},
	"stronger": {"stronger", false}, "weaker": {"stronger", true},
	"smarter": {"smarter", false}, "dumber": {"smarter", true}, "stupider": {"smarter", true},
	"healthier": {"healthier", false}, "unhealthier": {"healthier", true},
	"richer": {"richer", false}, "poorer": {"richer", true},
	"harder": {"harder", false}, "easier": {"harder", true},
	"safer": {"safer", false}, "riskier": {"safer", true},
	"hotter": {"hotter", false}, "warmer": {"hotter", false}, "colder": {"hotter", true}, "cooler": {"hotter", true},
	"more": {"more", false}, "less": {"more", true}, "fewer": {"more", true},
	"greater": {"greater", false},
}

// numberWords are cardinal and ordinal number words.
var numberWords = map[string]float64{
	"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
	"seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
	"thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
	"seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20,
	"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
	"eighty": 80, "ninety": 90,
	"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6,
	"seventh": 7, "eighth": 8, "ninth": 9, "tenth": 10, "eleventh": 11,
	"twelfth": 12, "thirteenth": 13, "fifteenth": 15, "twentieth": 20,
	"hundredth": 100, "thousandth": 1000,
	"once": 1, "twice": 2, "thrice": 3, "dozen": 12, "double": 2, "triple": 3,
	"ones": 1, "twos": 2, "threes": 3, "fours": 4, "fives": 5, "sixes": 6,
	"sevens": 7, "eights": 8, "nines": 9, "tens": 10,
}

// ordinalWords are the number words that give a rank: "the first of
// several promises" is not "several promises".
var ordinalWords = map[string]bool{
	"first": true, "second": true, "third": true, "fourth": true, "fifth": true, "sixth": true,
	"seventh": true, "eighth": true, "ninth": true, "tenth": true, "eleventh": true, "twelfth": true,
	"thirteenth": true, "fifteenth": true, "twentieth": true, "hundredth": true, "thousandth": true,
}

// numberMultipliers scale the number before them ("3 million").
var numberMultipliers = map[string]float64{
	"hundred": 100, "thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12,
}

// contractionWords are contractions written without an apostrophe, and the
// words they stand for.
var contractionWords = map[string][2]string{
	"cannot": {"can", "not"}, "cant": {"can", "not"}, "dont": {"do", "not"},
	"doesnt": {"does", "not"}, "didnt": {"did", "not"}, "isnt": {"is", "not"},
	"arent": {"are", "not"}, "wasnt": {"was", "not"}, "werent": {"were", "not"},
	"wont": {"will", "not"}, "wouldnt": {"would", "not"}, "shouldnt": {"should", "not"},
	"couldnt": {"could", "not"}, "havent": {"have", "not"}, "hasnt": {"has", "not"},
	"hadnt": {"had", "not"}, "aint": {"is", "not"}, "mustnt": {"must", "not"},
}

// directionWords mark an ordered relation between the words before and the
// words after them.
var directionWords = map[string]relFamily{
	"to": famTo, "into": famTo, "towards": famTo,
	"vs": famVersus, "versus": famVersus, "v": famVersus,
	"than":   famThan,
	"before": famOrder, "after": famOrder,
	"imply": famImply, "implies": famImply, "implied": famImply,
	"inside": famInside, "within": famInside,
	"instead": famPrefer, "over": famPrefer,
	"from": famTo,
	"per":  famPer, "in": famPer,
}

// preferVerbs make a following "over" a preference ("prefer X over Y").
const preferVerbs = `prefer prefers preferred choose chose pick picked favor favour recommend recommended`

// clauseWords end the span of words a relation applies to.
const clauseWords = `and or but because so if when while where which who what how why whether then although though unless until`

// politeEdges are words dropped when they open or close a question
// ("Thanks! ...", "... thank you").
const politeEdges = `thanks thank thx cheers hi hello hey please pls`

// qualifierWords narrow what a request asks for when one side adds them:
// "record a video call", "the fastest way", "total cost", "free VPN",
// "iterate in reverse". They are a feature of the calibrated score, not a
// veto on their own.
const qualifierWords = `video audio voice free paid total average overall net gross fastest quickest
slowest cheapest best worst safest easiest largest biggest smallest longest shortest highest lowest
most least first last only every all each reverse reversed backwards recursive recursively parallel
async asynchronous asynchronously manually manual automatic automatically permanent permanently
temporary temporarily remote remotely local locally online offline wireless portable daily weekly
monthly yearly annual annually hourly new used old latest newest oldest legal legally safely
private public secure official exact exactly approximate approximately maximum minimum max min
large small big little extra additional multiple single double partial full entire whole
raw cooked frozen fresh dried organic vegan vegetarian gluten sugar decaf diet
mobile desktop android iphone ipad mac windows linux web`

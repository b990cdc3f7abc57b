"""Template families for the generated turn corpus.

A family is one way of saying one kind of thing (a movie opinion, a table booking, a story about last
weekend): core templates plus the late endings that fit them. Train, validation and test are split by
family, so test sentences come from wordings and topics the model never saw.

Template syntax: ``{slot}`` draws from the family's slots (then the shared ones), ``[a|b|c]`` picks one
alternative (an empty alternative makes the group optional), ``^`` marks a place where the speaker may
pause and hold the floor. Endings begin with their joiner: ``, `` (same sentence, continuation
intonation), `` `` (no break) or ``. `` (a new sentence).
"""

from __future__ import annotations

from dataclasses import dataclass, field

KINDS = ("statement", "question", "request", "list", "story")


@dataclass(frozen=True)
class Family:
    """One template family: its kind, core templates, slots, and family-specific endings."""

    name: str
    kind: str
    cores: tuple[str, ...]
    slots: dict[str, tuple[str, ...]] = field(default_factory=dict)
    additions: dict[str, tuple[str, ...]] = field(default_factory=dict)
    pivots: dict[str, tuple[str, ...]] = field(default_factory=dict)


SHARED_SLOTS: dict[str, tuple[str, ...]] = {
    "person": (
        "my sister",
        "my brother",
        "my friend Sam",
        "my neighbour",
        "my boss",
        "my mom",
        "my dad",
        "a colleague",
        "my cousin",
        "Alex",
    ),
    "day": ("on Monday", "on Tuesday", "on Friday", "on Saturday", "tomorrow", "next week", "this weekend", "tonight"),
    "past": ("yesterday", "last night", "last week", "on Sunday", "this morning", "last weekend"),
    "really": ("really", "totally", "absolutely", "", "", "honestly"),
    "place": ("the park", "the beach", "the mall", "the library", "downtown", "the lake", "the market", "the museum"),
}

OPENERS = ("so,", "well,", "um,", "okay, so", "hey,", "oh,", "alright,", "you know what,", "listen,", "uh,")
FILLERS = ("um,", "uh,", "you know,", "like,", "", "", "")

# Endings that fit any family of a kind (the family's own endings are added to these).
GENERIC_ADDITIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "statement": {
        "tag": (", you know", ", I guess", ", I think", ", to be honest", ", honestly", ", right", ", I mean it"),
        "adverbial": (", by the way", ", anyway", " these days", ", for what it's worth", ", at least for now"),
    },
    "question": {
        "tag": (", by the way", ", just curious", ", out of curiosity", ", if you know", ", I was wondering"),
        "thanks": (", thanks", ". Thanks in advance"),
    },
    "request": {
        "thanks": (", thanks", ", thank you", ", thanks a lot", ". Thank you so much", ", thanks in advance"),
        "tag": (
            ", please",
            ", if you can",
            ", when you get a chance",
            ", if that's okay",
            ", if you don't mind",
            ", unless it's too much trouble",
        ),
    },
    "list": {
        "thanks": (", thanks", ", thank you"),
        "tag": (", I think that's it", ", that should do it", ", please", ", if you can"),
    },
    "story": {
        "tag": (", you know", ", honestly", ", I swear", ", believe it or not", ", no joke"),
        "adverbial": (", all in all", ", by the way", " in the end", ", looking back"),
    },
}

GENERIC_PIVOTS: dict[str, dict[str, tuple[str, ...]]] = {
    "statement": {
        "kidding": (", just kidding", ". Just kidding", ", kidding", ", not really, just joking"),
        "sarcasm": (", said no one ever", ", yeah right", ", in my dreams", ", or so they tell me"),
        "negation": (", not", ". Not", ", or not", ", well, not anymore"),
    },
    "question": {
        "correction": (", actually never mind", ". Wait, forget it", ", oh wait, I already know", ", no, scratch that"),
        "negation": (", actually no, don't tell me", ", or actually, I don't want to know"),
    },
    "request": {
        "correction": (", actually never mind", ". Wait, no, cancel that", ", no wait, don't", ", actually, forget it"),
        "condition": (", but only if it's free", ", but not before noon", ", but only after lunch"),
    },
    "list": {
        "correction": (", actually scratch all that", ", wait, no, forget the list", ", actually never mind"),
    },
    "story": {
        "kidding": (", just kidding", ". Not really, I made that up", ", kidding, of course"),
        "sarcasm": (", in my dreams", ", yeah right", ", or at least that's what I dreamed"),
        "contrast": (" until I woke up", ", until I realised it was a dream", ", but then I woke up"),
    },
}


FAMILIES: tuple[Family, ...] = (
    # ---------------------------------------------------------------- statements
    Family(
        "movie_opinion",
        "statement",
        (
            "I {really} [loved|enjoyed] the {film} we saw {past}",
            "the {film} ^ {past} was [amazing|great|wonderful]",
            "that {film} was ^ one of the best I've seen",
        ),
        {"film": ("movie", "film", "documentary", "show", "play")},
        {
            "detail": (", the acting was great", ", the music was beautiful", ", and the ending was perfect"),
            "tag": (", you know",),
        },
        {
            "contrast": (
                ", but the ending ruined it",
                ", but I fell asleep halfway through",
                ", until the last ten minutes",
            ),
            "negation": (". I'm lying, it was awful",),
        },
    ),
    Family(
        "food_opinion",
        "statement",
        (
            "the [pasta|soup|curry|pizza] at that new place is [delicious|fantastic|so good]",
            "I think ^ their {dish} is the best in town",
            "we had {dish} {past} and it was [lovely|perfect]",
        ),
        {"dish": ("noodles", "tacos", "dumplings", "burgers", "ramen")},
        {
            "detail": (", and the portions are huge", ", with a really nice sauce", ", and it's cheap too"),
            "adverbial": (" every time",),
        },
        {
            "contrast": (", but I got sick afterwards", ", but they closed last month"),
            "correction": (", or I mean it used to be",),
        },
    ),
    Family(
        "weather_report",
        "statement",
        (
            "it's [so|really|very] [sunny|warm|nice] outside today",
            "the weather ^ is perfect for a walk",
            "it looks like ^ a beautiful day",
        ),
        {},
        {
            "detail": (", not a cloud in the sky", ", about twenty degrees", ", with a light breeze"),
            "adverbial": (" for once", ", at least this morning"),
        },
        {
            "contrast": (", but it's supposed to storm later", ", but only for another hour"),
            "correction": (", wait, no, it just started raining",),
        },
    ),
    Family(
        "job_news",
        "statement",
        (
            "I got the job at the [bank|hospital|studio|agency]",
            "they offered me ^ a position at the new office",
            "I finally ^ got promoted {past}",
        ),
        {},
        {
            "detail": (", with a better salary", ", starting next month", ", in the marketing team"),
            "tag": (", can you believe it",),
        },
        {
            "contrast": (", but I turned it down", ", but they took it back an hour later"),
            "condition": (", if I pass the background check",),
        },
    ),
    Family(
        "pet_update",
        "statement",
        (
            "my [dog|cat|puppy|kitten] is doing [much better|great|fine] now",
            "the vet said ^ my {pet} is completely healthy",
            "our {pet} ^ learned a new trick {past}",
        ),
        {"pet": ("dog", "cat", "rabbit", "parrot")},
        {"detail": (", and she's eating again", ", and he's so playful", ", which is a relief")},
        {
            "contrast": (", but she's back at the vet again", ", but it didn't last"),
            "correction": (", well, actually it was the neighbour's {pet}",),
        },
    ),
    Family(
        "travel_plans",
        "statement",
        (
            "we're going to [Spain|Japan|Canada|Italy] {day}",
            "I booked ^ a trip to the mountains for {day}",
            "we decided ^ to drive to the coast {day}",
        ),
        {},
        {
            "detail": (", for a whole week", ", with the whole family", ", to see some friends"),
            "adverbial": (", finally",),
        },
        {
            "contrast": (", but the flight got cancelled", ", but now we can't afford it"),
            "condition": (", unless my passport doesn't arrive in time", ", if the car gets fixed"),
        },
    ),
    Family(
        "feeling_state",
        "statement",
        (
            "I'm feeling [great|really good|so much better] today",
            "I slept ^ really well last night",
            "I feel ^ full of energy this morning",
        ),
        {},
        {"detail": (", probably the long walk", ", after all that rest"), "tag": (", for a change",)},
        {
            "contrast": (", but my back is killing me", ", until I looked at my inbox"),
            "negation": (", no, that's a lie, I'm exhausted",),
        },
    ),
    Family(
        "team_sport",
        "statement",
        (
            "our team won the [game|match|final] {past}",
            "we beat them ^ three to one",
            "the [game|match] ^ {past} was incredible",
        ),
        {},
        {"detail": (", in the last minute", ", it was so exciting", ", with a great goal")},
        {
            "contrast": (", but the referee cancelled the result", ", but then they disqualified us"),
            "correction": (", I mean the other team won",),
        },
    ),
    Family(
        "home_project",
        "statement",
        (
            "I finished painting the [kitchen|bedroom|living room|fence]",
            "the new shelves ^ are finally up",
            "I fixed ^ the leaking tap all by myself",
        ),
        {},
        {"detail": (", it took all weekend", ", and it looks fantastic", ", with some help from {person}")},
        {
            "contrast": (", but I used the wrong colour", ", but it already fell down"),
            "correction": (", well, {person} did most of it",),
        },
    ),
    Family(
        "book_opinion",
        "statement",
        (
            "that [novel|book|biography] you lent me is [brilliant|fascinating|wonderful]",
            "I couldn't put ^ that book down",
            "the author ^ writes so beautifully",
        ),
        {},
        {"detail": (", I read it in two days", ", especially the middle part", ", the characters are so real")},
        {
            "contrast": (", but the last chapter was terrible", ", until the twist ruined it"),
            "negation": (", no, I haven't actually opened it",),
        },
    ),
    Family(
        "city_opinion",
        "statement",
        (
            "I [love|really like] living in this [city|town|neighbourhood]",
            "the people here ^ are so friendly",
            "this [city|town] ^ has everything I need",
        ),
        {},
        {"detail": (", there's always something to do", ", and the parks are lovely", ", especially in summer")},
        {
            "contrast": (", but the rent is way too high", ", but I'm moving out next month"),
            "sarcasm": (", said nobody who lives here",),
        },
    ),
    Family(
        "exam_result",
        "statement",
        (
            "I passed my [driving test|final exam|chemistry exam|interview]",
            "I got ^ the highest score in the class",
            "the results came out ^ and I did really well",
        ),
        {},
        {"detail": (", on the first try", ", with almost full marks", ", after months of studying")},
        {
            "contrast": (", but they found a mistake in the grading", ", but I have to retake it anyway"),
            "correction": (", or wait, that was my practice test",),
        },
    ),
    Family(
        "restaurant_review",
        "statement",
        (
            "the new [Thai|Italian|Mexican|Greek] restaurant on the corner is [excellent|fantastic|really good]",
            "the waiter ^ was incredibly friendly",
            "we had ^ the best dinner there {past}",
        ),
        {},
        {"detail": (", the dessert was amazing", ", and the prices are fair", ", we'll definitely go back")},
        {
            "contrast": (", but the kitchen failed its health inspection", ", but we waited two hours for our food"),
            "correction": (", well, the food was cold, actually",),
        },
    ),
    Family(
        "phone_opinion",
        "statement",
        (
            "my new [phone|laptop|tablet|camera] works [perfectly|beautifully|like a dream]",
            "the battery ^ lasts for days",
            "I'm really happy ^ with the new {gadget}",
        ),
        {"gadget": ("phone", "headphones", "watch", "speaker")},
        {"detail": (", and it was on sale", ", the screen is gorgeous", ", it's so fast")},
        {
            "contrast": (", but it broke the next day", ", but I already lost it"),
            "correction": (", or at least it did until the update",),
        },
    ),
    Family(
        "neighbour_news",
        "statement",
        (
            "the neighbours finally finished their [renovation|new garden|extension|garage]",
            "it's been ^ so quiet on our street lately",
            "the building work ^ next door is done",
        ),
        {},
        {"detail": (", and it looks lovely", ", after six long months")},
        {
            "contrast": (", but now they're starting another one", ", but the noise starts again tomorrow"),
            "kidding": (", if only that were true",),
        },
    ),
    Family(
        "fitness_progress",
        "statement",
        (
            "I ran [five|ten|fifteen] kilometres this morning without stopping",
            "I've been going ^ to the gym every day",
            "I lost ^ three kilos this month",
        ),
        {},
        {"detail": (", my legs feel great", ", in under an hour", ", my trainer is proud of me")},
        {
            "contrast": (", but then I twisted my ankle", ", but I gained it all back at the weekend"),
            "negation": (", well, I meant to, but I didn't",),
        },
    ),
    # ---------------------------------------------------------------- questions
    Family(
        "time_question",
        "question",
        (
            "what time does the [pharmacy|bakery|post office|gym] close",
            "do you know ^ when the next bus leaves",
            "how late ^ is the {shop} open {day}",
        ),
        {"shop": ("store", "bank", "pool", "cafe")},
        {"tag": (", do you know",)},
        {"correction": (", actually, I mean when it opens", ", no, I mean the one on Main Street")},
    ),
    Family(
        "recommendation_question",
        "question",
        (
            "can you recommend a good [book|podcast|series|restaurant]",
            "what's ^ a good place to eat around here",
            "do you have ^ any tips for learning to cook",
        ),
        {},
        {"tag": (", something light",)},
        {"negation": (", but not anything you told me before",), "correction": (", actually, I already found one",)},
    ),
    Family(
        "health_question",
        "question",
        (
            "is it okay to [run|swim|go to the gym] with a cold",
            "how much water ^ should I drink every day",
            "should I ^ take something for this headache",
        ),
        {},
        {"tag": (", in general",)},
        {"correction": (", actually, I'll just ask my doctor",), "negation": (", never mind, I feel fine now",)},
    ),
    Family(
        "weather_question",
        "question",
        ("is it going to rain {day}", "what's the weather ^ going to be like {day}", "do I need ^ an umbrella {day}"),
        {},
        {"tag": (", here in town",)},
        {"correction": (", oh wait, I'm not going out anyway", ", no, I mean in Paris")},
    ),
    Family(
        "math_question",
        "question",
        (
            "what's [twelve|fifteen|eighteen] times [seven|nine|eleven]",
            "how many ^ days are there in a leap year",
            "what's ^ the square root of one hundred and forty four",
        ),
        {},
        {"tag": (", quickly",)},
        {"correction": (", no wait, I mean divided by three", ", actually, let me work it out myself")},
    ),
    Family(
        "directions_question",
        "question",
        (
            "how do I get to the [station|airport|stadium|hospital] from here",
            "which way ^ is the city centre",
            "is there ^ a quick route to the harbour",
        ),
        {},
        {"tag": (", on foot",)},
        {"correction": (", actually I'll take a taxi", ", oh, never mind, I see the sign")},
    ),
    Family(
        "fact_question",
        "question",
        (
            "who [wrote|directed|painted] that famous [poem|film|portrait]",
            "when was ^ the first moon landing",
            "how tall ^ is the tallest building in the world",
        ),
        {},
        {"tag": (", if you remember",)},
        {"correction": (", no, forget it, I'll look it up", ", actually, I just remembered")},
    ),
    Family(
        "cooking_question",
        "question",
        (
            "how long should I boil [an egg|pasta|rice|potatoes]",
            "what can I use ^ instead of butter",
            "how do you make ^ a good tomato sauce",
        ),
        {},
        {"tag": (", roughly",)},
        {"correction": (", oh wait, it says on the packet", ", actually we're ordering pizza instead")},
    ),
    Family(
        "tech_question",
        "question",
        (
            "why is my [laptop|phone|computer|printer] so slow",
            "how do I ^ reset my password",
            "can you tell me ^ how to back up my photos",
        ),
        {},
        {"tag": (", in simple words",)},
        {"correction": (", never mind, it just started working", ", actually my son fixed it")},
    ),
    Family(
        "opinion_question",
        "question",
        (
            "what do you think about [electric cars|remote work|social media|modern art]",
            "do you think ^ it's a good idea to move abroad",
            "would you rather ^ live in the city or the countryside",
        ),
        {},
        {"tag": (", honestly",)},
        {"correction": (", actually don't answer that", ", no, wait, that's a silly question")},
    ),
    Family(
        "train_question",
        "question",
        (
            "which platform does the [express|night|local] train to Boston leave from",
            "is the train ^ to the airport running {day}",
            "how long ^ does the train to the coast take",
        ),
        {},
        {"tag": (", roughly",)},
        {"correction": (", actually, I'm taking the bus", ", no wait, I mean the one to Chicago")},
    ),
    Family(
        "money_question",
        "question",
        (
            "how much does a [ticket|coffee|haircut|taxi] cost around here",
            "is it expensive ^ to live in London",
            "what's the exchange rate ^ for euros {day}",
        ),
        {},
        {"tag": (", approximately",)},
        {"correction": (", never mind, I found the price online", ", actually, forget it, it's too expensive anyway")},
    ),
    Family(
        "schedule_question",
        "question",
        (
            "when is my [dentist|doctor|hair] appointment",
            "what's on ^ my calendar {day}",
            "do I have ^ any meetings {day}",
        ),
        {},
        {"tag": (", if you can check",)},
        {"correction": (", oh wait, I cancelled it", ", never mind, I just checked my diary")},
    ),
    Family(
        "animal_question",
        "question",
        (
            "how long do [elephants|tortoises|parrots|cats] usually live",
            "what do ^ hedgehogs eat",
            "why do ^ cats purr",
        ),
        {},
        {"tag": (", just wondering",)},
        {"correction": (", actually, I read about it yesterday", ", no, I mean dogs, not cats")},
    ),
    # ---------------------------------------------------------------- requests
    Family(
        "booking_request",
        "request",
        (
            "can you book a table for [two|four|six] {day}",
            "please reserve ^ a room at the hotel {day}",
            "could you get us ^ tickets for the concert {day}",
        ),
        {},
        {"detail": (", somewhere near the window", ", at around eight"), "thanks": (", that would be great",)},
        {
            "correction": (", no wait, make it for next month", ", actually, make that a table for ten"),
            "condition": (", but only if it's under fifty dollars",),
        },
    ),
    Family(
        "reminder_request",
        "request",
        (
            "remind me to call {person} {day}",
            "set a reminder ^ to water the plants",
            "please remind me ^ to pay the electricity bill",
        ),
        {},
        {"detail": (", in the evening", ", around lunchtime")},
        {"correction": (", actually, I just did it", ", no, wait, remind {person} instead")},
    ),
    Family(
        "music_request",
        "request",
        (
            "play some [jazz|classical music|rock|something relaxing]",
            "put on ^ my running playlist",
            "can you play ^ that song from the wedding",
        ),
        {},
        {"detail": (", not too loud", ", on the kitchen speaker")},
        {"correction": (", actually, turn it off", ", wait, no, play the news instead")},
    ),
    Family(
        "email_request",
        "request",
        (
            "send an email to {person} about the meeting",
            "write a message ^ to the team about the delay",
            "could you draft ^ a reply to the landlord",
        ),
        {},
        {"detail": (", keep it short", ", in a friendly tone")},
        {"correction": (", actually don't send anything yet", ", no, wait, I'll call them instead")},
    ),
    Family(
        "shopping_request",
        "request",
        (
            "order more [coffee|dog food|printer paper|shampoo]",
            "add ^ toothpaste to the shopping list",
            "can you buy ^ a birthday present for {person}",
        ),
        {},
        {"detail": (", the same one as last time",), "thanks": (", you're the best",)},
        {"correction": (", actually, we still have some", ", no, wait, I already ordered it")},
    ),
    Family(
        "light_request",
        "request",
        (
            "turn [on|off] the lights in the [kitchen|bedroom|hallway]",
            "dim ^ the living room lights",
            "can you switch on ^ the heating",
        ),
        {},
        {"detail": (", just a little", ", for an hour or so")},
        {"correction": (", no, the other room", ", wait, actually leave them as they are")},
    ),
    Family(
        "translation_request",
        "request",
        (
            "translate this sentence into [French|German|Spanish|Italian]",
            "how do you say ^ good morning in Japanese",
            "help me ^ translate this letter",
        ),
        {},
        {"tag": (", if you can",)},
        {"correction": (", actually, into Portuguese", ", never mind, my friend speaks English")},
    ),
    Family(
        "ride_request",
        "request",
        (
            "call me a taxi to the [airport|station|office|hotel]",
            "get me ^ a ride home",
            "can you order ^ a car for eight o'clock",
        ),
        {},
        {"detail": (", a big one, we have luggage",)},
        {"correction": (", actually, I'll walk", ", no, wait, make it nine o'clock")},
    ),
    Family(
        "summary_request",
        "request",
        ("summarise the news for me", "give me ^ a quick summary of the report", "can you read me ^ the headlines"),
        {},
        {"detail": (", just the main points", ", in two or three sentences")},
        {"correction": (", actually, skip it, I've read it", ", no, the sports news instead")},
    ),
    Family(
        "help_homework",
        "request",
        (
            "help me with my [history|science|maths] homework",
            "explain ^ how photosynthesis works",
            "could you check ^ my essay for mistakes",
        ),
        {},
        {"detail": (", it's due tomorrow", ", the part about the war")},
        {"correction": (", actually, I figured it out", ", wait, no, my teacher said we can't")},
    ),
    Family(
        "alarm_request",
        "request",
        (
            "wake me up at [six|seven|half past six|eight] tomorrow",
            "set an alarm ^ for my nap",
            "please set ^ a timer for twenty minutes",
        ),
        {},
        {"detail": (", with a gentle sound", ", I have an early flight")},
        {"correction": (", actually, I don't need one", ", no wait, make it nine instead")},
    ),
    Family(
        "recipe_request",
        "request",
        (
            "find me a recipe for [lasagne|banana bread|chicken curry|pancakes]",
            "look up ^ how to make sourdough",
            "give me ^ a quick vegetarian dinner idea",
        ),
        {},
        {"detail": (", something easy", ", for four people")},
        {"correction": (", actually, we're eating out tonight", ", no, wait, we don't have an oven")},
    ),
    Family(
        "note_request",
        "request",
        (
            "write down that the [plumber|electrician|painter|gardener] comes on Thursday",
            "make a note ^ to buy batteries",
            "save a note ^ about the parking spot",
        ),
        {},
        {"detail": (", in my work notes",)},
        {"correction": (", actually, delete that", ", no wait, he's coming on Friday")},
    ),
    Family(
        "weather_alert_request",
        "request",
        (
            "tell me if it's going to snow {day}",
            "let me know ^ when the rain stops",
            "warn me ^ if there's a storm coming",
        ),
        {},
        {"detail": (", I'm planning a hike",)},
        {"correction": (", actually, don't bother, I'm staying in", ", never mind, I'll check the forecast myself")},
    ),
    # ---------------------------------------------------------------- lists
    Family(
        "grocery_list",
        "list",
        (
            "I need eggs, milk, ^ and [bread|butter|apples]",
            "we should get rice, ^ onions, and some tomatoes",
            "put cheese, ^ yoghurt and oranges on the list",
        ),
        {},
        {"tag": (", I think that's all",)},
        {"correction": (", actually scratch the milk, we have plenty", ", wait, no, we already bought all of it")},
    ),
    Family(
        "packing_list",
        "list",
        (
            "I'm packing a jacket, ^ two shirts, and my [boots|sandals|sneakers]",
            "don't forget ^ the tickets, the passports and the charger",
            "we'll need towels, ^ sunscreen, and a big umbrella",
        ),
        {},
        {"tag": (", just in case",)},
        {"correction": (", actually, the trip is off", ", no wait, we're not going anymore")},
    ),
    Family(
        "todo_list",
        "list",
        (
            "today I have to clean, ^ cook, and [do the laundry|walk the dog|pay the bills]",
            "my plan is to shop, ^ then study, then call {person}",
            "I want to go running, ^ read, and finally relax",
        ),
        {},
        {"tag": (", if there's time",)},
        {"contrast": (", but honestly I'll just sleep all day", ", but I think I'll cancel all of it")},
    ),
    Family(
        "party_invites",
        "list",
        (
            "let's invite Maria, ^ Tom, and [Priya|Ben|Lucy]",
            "the guest list is Omar, ^ Julia and the twins",
            "I'd like to ask ^ my cousins, my neighbours and a few colleagues",
        ),
        {},
        {"tag": (", for the party",)},
        {"correction": (", actually, let's cancel the party", ", wait, not Tom, he's away")},
    ),
    Family(
        "meal_plan",
        "list",
        (
            "this week we'll have soup, ^ fish, and a big salad",
            "for dinner ^ I'm making chicken, potatoes and green beans",
            "the menu is pancakes, ^ fruit, and [coffee|juice|tea]",
        ),
        {},
        {"tag": (", sounds good",)},
        {"correction": (", actually, let's just order takeaway", ", or no, forget it, we're eating out")},
    ),
    Family(
        "hobby_list",
        "list",
        (
            "my hobbies are painting, ^ hiking and playing the [guitar|piano|drums]",
            "in my free time I ^ read, garden, and bake",
            "I enjoy ^ photography, chess and cycling",
        ),
        {},
        {"tag": (", mostly",)},
        {"contrast": (", but I haven't done any of them in years", ", or at least I used to")},
    ),
    Family(
        "meeting_agenda",
        "list",
        (
            "the agenda is the budget, ^ the hiring plan, and the office move",
            "we need to discuss ^ sales, marketing, and the new website",
            "first the numbers, ^ then the schedule, then questions",
        ),
        {},
        {"tag": (", in that order",)},
        {"correction": (", actually, the meeting is cancelled", ", no wait, we covered all that yesterday")},
    ),
    Family(
        "garden_list",
        "list",
        (
            "I'm planting tomatoes, ^ carrots and some [herbs|roses|lettuce]",
            "the garden needs water, ^ fertiliser and a new fence",
            "we grow beans, ^ peas and strawberries",
        ),
        {},
        {"tag": (", this year",)},
        {"contrast": (", but the rabbits ate everything", ", but it all died in the frost")},
    ),
    Family(
        "wardrobe_list",
        "list",
        (
            "I need new shoes, ^ a winter coat, and some [gloves|scarves|socks]",
            "I'm donating old jeans, ^ sweaters and two jackets",
            "buy me a belt, ^ a tie and a white shirt",
        ),
        {},
        {"tag": (", nothing fancy",)},
        {"correction": (", actually, I'll just wear what I have", ", wait, forget the coat, I found mine")},
    ),
    Family(
        "cleaning_list",
        "list",
        (
            "this weekend I'll clean the windows, ^ the oven, and the [fridge|bathroom|garage]",
            "I have to vacuum, ^ mop the floors and dust the shelves",
            "we should tidy the attic, ^ the shed and the cellar",
        ),
        {},
        {"tag": (", if I have the energy",)},
        {"contrast": (", but I'll probably just watch movies instead", ", but honestly it can all wait another month")},
    ),
    Family(
        "school_supplies",
        "list",
        (
            "the kids need pencils, ^ notebooks, and a new [backpack|calculator|ruler]",
            "get some glue, ^ scissors and coloured paper",
            "we still need erasers, ^ folders and crayons",
        ),
        {},
        {"tag": (", for Monday",)},
        {"correction": (", actually, the school provides all of it", ", wait, no, we bought everything yesterday")},
    ),
    # ---------------------------------------------------------------- stories
    Family(
        "dream_story",
        "story",
        (
            "last night I was in [India|Brazil|Iceland|Egypt],"
            " having a wonderful conversation with my [soulmate|hero|grandmother]",
            "I was flying ^ over the ocean with my best friend",
            "I found myself ^ on a stage singing to a huge crowd",
        ),
        {},
        {"detail": (", it felt so real", ", under a beautiful starry sky")},
        {"contrast": (", until I realised it was a dream", ", until my alarm went off")},
    ),
    Family(
        "lottery_story",
        "story",
        (
            "so {past} I bought a lottery ticket ^ and I won the jackpot",
            "I checked ^ my numbers and every single one matched",
            "I got a call ^ saying I'd won a brand new car",
        ),
        {},
        {"detail": (", I was shaking", ", I screamed so loud")},
        {
            "contrast": (", but it turned out to be a scam", ", but the ticket was from last year"),
            "kidding": (", I wish",),
        },
    ),
    Family(
        "meeting_celebrity",
        "story",
        (
            "{past} I met a famous [actor|singer|footballer|chef] at the airport",
            "I was standing ^ in line and the president was right behind me",
            "I sat next to ^ a movie star on the train",
        ),
        {},
        {"detail": (", and we took a selfie", ", they were really nice")},
        {"correction": (", well, someone who looked like one", ", actually it was a cardboard cutout")},
    ),
    Family(
        "cooking_story",
        "story",
        (
            "{past} I baked a [cake|pie|loaf of bread] for the first time ^ and it came out perfect",
            "I cooked ^ dinner for eight people all by myself",
            "I made ^ my grandmother's soup recipe",
        ),
        {},
        {"detail": (", everyone asked for seconds", ", it looked like a photo")},
        {"contrast": (", but then I dropped it on the floor", ", but I forgot the salt and nobody ate it")},
    ),
    Family(
        "holiday_story",
        "story",
        (
            "[last summer|in April|over the holidays] we went camping ^ by a lake in the mountains",
            "we spent a week ^ on a tiny island",
            "we rented a cabin ^ in the middle of the forest",
        ),
        {},
        {"detail": (", the views were stunning", ", we swam every day")},
        {"contrast": (", but it rained the whole time", ", but the mosquitoes were unbearable")},
    ),
    Family(
        "work_story",
        "story",
        (
            "today at work I gave a presentation ^ to the whole company",
            "{past} my boss ^ called me into her office",
            "I finished ^ the big project two weeks early",
        ),
        {},
        {"detail": (", and everybody clapped", ", and she said I did great")},
        {"contrast": (", but my laptop crashed in the middle", ", but nobody noticed")},
    ),
    Family(
        "found_money",
        "story",
        (
            "I was walking home ^ and I found a wallet full of cash",
            "{past} I found ^ fifty dollars in an old jacket",
            "there was money ^ just lying on the pavement",
        ),
        {},
        {"detail": (", I couldn't believe my luck",)},
        {"contrast": (", but it was fake", ", but it turned out to be my own"), "sarcasm": (", if only",)},
    ),
    Family(
        "concert_story",
        "story",
        (
            "{past} we went to see our favourite band ^ and we got to go backstage",
            "I got front row tickets ^ for the big concert",
            "we danced ^ all night at the festival",
        ),
        {},
        {"detail": (", the music was so loud", ", it was the best night ever")},
        {"contrast": (", but the show was cancelled at the last minute", ", but I lost my phone in the crowd")},
    ),
    Family(
        "interview_story",
        "story",
        (
            "{past} I had a job interview ^ and they hired me on the spot",
            "I walked into ^ the interview and the manager was my old classmate",
            "the interview went ^ so well that they offered me more money",
        ),
        {},
        {"detail": (", I start next week", ", everyone was so welcoming")},
        {"contrast": (", but then I realised it was the wrong company", ", but I turned them down in the end")},
    ),
    Family(
        "weekend_story",
        "story",
        (
            "{past} we drove to the mountains ^ and watched the sunrise from the top",
            "we spent the whole weekend ^ at a spa hotel",
            "my friends surprised me ^ with a trip to Paris",
        ),
        {},
        {"detail": (", it was magical", ", I'll never forget it")},
        {"contrast": (", but it was so foggy we saw nothing", ", but I was sick the entire time")},
    ),
    Family(
        "baby_story",
        "story",
        (
            "my sister had her baby {past} ^ and it's a little girl",
            "I held ^ my nephew for the first time",
            "the baby ^ said her first word this morning",
        ),
        {},
        {"detail": (", she's so tiny", ", everyone cried")},
        {"correction": (", well, it sounded like a word, anyway", ", actually it was just a burp")},
    ),
)

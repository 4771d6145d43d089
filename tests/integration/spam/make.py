"""make.py DIR - messages for tests/integration/spam.sh, made the same way
every run (fixed seed): a small synthetic corpus of ham and spam (words of
their own plus words both share, distinct messages), in every form
policyctl reads:

  DIR/train/ham/NNN.eml, DIR/train/spam/NNN.eml   to train on
  DIR/test/ham/NNN.eml,  DIR/test/spam/NNN.eml    to classify
  DIR/maildir/{cur,new,tmp}                      5 test ham in a Maildir
  DIR/mbox                                       3 test spam in an mbox, with
                                                 a ">From " line to unescape
  DIR/load/PPP/NNN.eml                           distinct messages for the
                                                 processes of the load test
  DIR/gtube.eml      the GTUBE test string (put together here, never stored)
  DIR/nosubject.eml  spam without a Subject header
  DIR/list           the test ham, one path a line
"""
import os
import random
import sys

out = sys.argv[1]
rnd = random.Random(20240611)
HAM = ["meeting", "project", "agenda", "minutes", "review", "draft", "schedule", "patch",
       "release", "kernel", "compile", "thanks", "lunch", "tomorrow", "document", "budget",
       "report", "colleague", "conference", "slides", "deadline", "feedback", "repository",
       "branch", "merge", "ticket", "customer", "invoice", "quarter", "planning"]
SPAM = ["viagra", "winner", "lottery", "unclaimed", "prize", "casino", "pharmacy", "discount",
        "bitcoin", "investment", "guaranteed", "urgent", "beneficiary", "millions", "cheap",
        "replica", "watches", "enlarge", "dating", "singles", "mortgage", "refinance", "offer",
        "limited", "exclusive", "bonus", "jackpot", "inheritance", "transfer", "wire"]
BOTH = ["the", "and", "you", "for", "this", "that", "with", "have", "from", "your", "will",
        "about", "please", "today", "new", "more", "time", "here", "there", "what", "all",
        "can", "our", "just", "now", "get", "one", "like", "know", "see"]
HAM += ["ham%03d" % i for i in range(300)]
SPAM += ["spm%03d" % i for i in range(300)]
BOTH += ["both%03d" % i for i in range(200)]


def body(words, n):
    text = []
    for _ in range(n):
        text.append(rnd.choice(words) if rnd.random() < 0.55 else rnd.choice(BOTH))
    lines = [" ".join(text[i:i + 12]) for i in range(0, len(text), 12)]
    return "\n".join(lines) + "\n"


def message(kind, serial, subject=True):
    words = SPAM if kind == "spam" else HAM
    frm = "offers@deals-%d.example" % rnd.randrange(50) if kind == "spam" else \
        "colleague%d@work.example" % rnd.randrange(20)
    head = ["From: %s" % frm, "To: user@local.example",
            "Message-ID: <%s.%s@gen.example>" % (kind, serial),
            "Date: Tue, 11 Jun 2024 10:%02d:%02d +0000" % (rnd.randrange(60), rnd.randrange(60))]
    if subject:
        head.append("Subject: %s %s %s" % tuple(rnd.choice(words) for _ in range(3)))
    head += ["MIME-Version: 1.0", "Content-Type: text/plain; charset=us-ascii"]
    return "\n".join(head) + "\n\n" + body(words, rnd.randrange(60, 140))


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


n = 0
for part, count in (("train", 60), ("test", 40)):
    for kind in ("ham", "spam"):
        for i in range(count):
            n += 1
            write("%s/%s/%s/%03d.eml" % (out, part, kind, i), message(kind, n))
for i in range(5):
    n += 1
    write("%s/maildir/%s/%d.%d.host:2,S" % (out, "cur" if i < 3 else "new", 1700000000 + i, i),
          message("ham", n))
os.makedirs(out + "/maildir/tmp", exist_ok=True)
with open(out + "/mbox", "w") as f:
    for i in range(3):
        n += 1
        m = message("spam", n)
        if i == 1:
            m += ">From the desk of the beneficiary\n"
        f.write("From offers@deals.example Tue Jun 11 10:00:00 2024\n" + m + "\n")
for p in range(20):
    for i in range(10):
        n += 1
        write("%s/load/%02d/%03d.eml" % (out, p, i), message("spam" if i % 2 else "ham", n))
gtube = "XJS*C4JDBQADN1.NSBN3*2IDNEN*" + "GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
write(out + "/gtube.eml", "From: sender@client.test\nTo: user@local.example\n"
      "Subject: test\nMessage-ID: <gtube@gen.example>\n\nThis is the GTUBE:\n" + gtube + "\n")
n += 1
write(out + "/nosubject.eml", message("spam", n, subject=False))
with open(out + "/list", "w") as f:
    for i in range(40):
        f.write("%s/test/ham/%03d.eml\n" % (out, i))

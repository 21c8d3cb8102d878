/*
 * The poll island: what belongs to one reader in a page every reader shares.
 *
 * Pages carry each poll as a container with data-poll (the poll's id) and data-poll-state
 * (its per-visitor address, /polls/<slug>/state.json). This script:
 *  - votes without reloading the page, and shows the results with the reader's own answer
 *    marked and a thank-you;
 *  - shows the results instead of the form on every page that carries a poll this browser
 *    has voted in. A marker in localStorage ("psyweb:voted", the ids of those polls, never
 *    an answer) says so, so other readers' page views send no request at all;
 *  - on a reader's first touch of a poll form, asks for their state, which gives the browser
 *    its voter token before the vote, so repeated clicks carry the same token.
 * Without JavaScript the form posts as usual and lands on a page with the results.
 */
(function () {
  "use strict";

  var MARKER = "psyweb:voted";
  var FAILED = "Your vote could not be sent. Please check your connection and try again.";

  function votedPolls() {
    try {
      var ids = JSON.parse(window.localStorage.getItem(MARKER));
      return Array.isArray(ids) ? ids : [];
    } catch (error) {
      return [];
    }
  }

  function markVoted(pollId) {
    var ids = votedPolls();
    if (ids.indexOf(pollId) !== -1) return;
    ids.push(pollId);
    try {
      window.localStorage.setItem(MARKER, JSON.stringify(ids.slice(-200)));
    } catch (error) {
      /* private browsing: the server still refuses a second ballot */
    }
  }

  function getJSON(url, options) {
    return window.fetch(url, Object.assign({
      credentials: "same-origin",
      headers: { Accept: "application/json" }
    }, options)).then(function (response) {
      return response.json().then(function (data) {
        return { status: response.status, data: data };
      }, function () {
        return { status: response.status, data: {} };
      });
    });
  }

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function votesText(n) {
    return n.toLocaleString("en-US") + (n === 1 ? " vote" : " votes");
  }

  function number(n) {
    return n.toLocaleString("en-US");
  }

  /* The totals, as polls/includes/totals.html writes them. */
  function totals(body, state) {
    if (state.max_choices > 1) {
      var voters = "Voters: " + number(state.total_votes);
      if (state.results_visible) voters += " · Answers chosen: " + number(state.total_answers);
      body.appendChild(element("p", "poll-total", voters));
      body.appendChild(element("p", "poll-explain",
        "Each reader could choose up to " + state.max_choices + " answers" +
        (state.results_visible ? ", so each percentage is the share of voters who chose that " +
          "answer, and together they can add up to more than 100%." : ".")));
    } else {
      body.appendChild(element("p", "poll-total", "Total votes: " + number(state.total_votes)));
    }
  }

  /* The reader's own view of the poll, built from its state (see polls/results.py). */
  function renderResults(container, state, message) {
    var body = element("div", "poll-body");
    var thanks = element("p", "poll-thanks", message);
    thanks.setAttribute("role", "status");
    body.appendChild(thanks);
    if (!container.hasAttribute("data-poll-results-page")) {
      body.appendChild(element("p", "poll-question", state.question));
    }
    var ownIds = state.own_choices || [];
    function isOwn(choice) { return ownIds.indexOf(choice.id) !== -1; }
    var own = state.choices.filter(isOwn);
    if (state.results_visible) {
      var list = element("ul", "poll-results");
      list.setAttribute("aria-label", "Results");
      state.choices.forEach(function (choice) {
        var item = element("li", isOwn(choice) ? "poll-result-own" : "");
        var label = element("span", "poll-result-label", choice.text);
        if (isOwn(choice)) {
          label.appendChild(document.createTextNode(" "));
          label.appendChild(element("strong", "poll-own-answer", "(your answer)"));
        }
        item.appendChild(label);
        item.appendChild(element("span", "poll-result-figures",
          choice.percent + "% (" + votesText(choice.votes) + ")"));
        var bar = element("progress", "poll-bar", choice.percent + "%");
        bar.max = 100;
        bar.value = choice.percent;
        bar.setAttribute("aria-hidden", "true");
        item.appendChild(bar);
        list.appendChild(item);
      });
      body.appendChild(list);
      body.appendChild(element("p", "poll-caveat",
        "An online poll of PsyWeb readers, not a scientific survey."));
    } else {
      if (own.length) {
        var answer = element("p", "", own.length > 1 ? "Your answers: " : "Your answer: ");
        own.forEach(function (choice, i) {
          if (i) answer.appendChild(document.createTextNode(", "));
          answer.appendChild(element("strong", "", choice.text));
        });
        body.appendChild(answer);
      }
      body.appendChild(element("p", "poll-hidden", state.results_published === false ?
        "The results of this poll are not published." : "The results are shown when the poll closes."));
    }
    totals(body, state);
    var old = container.querySelector(".poll-body");
    if (!old) return;
    var hadFocus = old.contains(document.activeElement);
    old.replaceWith(body);
    if (hadFocus) container.focus();  /* the form the reader was in is gone */
  }

  function showError(form, text) {
    var notice = form.querySelector(".poll-error");
    if (!notice) {
      notice = element("p", "notice poll-error");
      notice.setAttribute("role", "alert");
      form.insertBefore(notice, form.firstChild);
    }
    notice.textContent = text;
  }

  /* Every container of this poll on the page shows the reader's view. */
  function showVoted(pollId, state, message) {
    markVoted(pollId);
    document.querySelectorAll('[data-poll="' + pollId + '"]').forEach(function (container) {
      renderResults(container, state, message);
    });
  }

  function setUp(container) {
    var pollId = container.getAttribute("data-poll");
    var stateUrl = container.getAttribute("data-poll-state");
    var form = container.querySelector("form.poll-form");
    var state = null;

    function loadState() {
      if (!state) {
        state = getJSON(stateUrl).then(function (answer) {
          if (answer.status === 200 && answer.data.voted) {
            showVoted(pollId, answer.data, "You have voted in this poll.");
          }
          return answer;
        }, function () {
          state = null;  /* try again on the next touch */
          return { status: 0, data: {} };
        });
      }
      return state;
    }

    if (votedPolls().indexOf(pollId) !== -1) {
      loadState();
      return;
    }
    if (!form) return;
    var most = parseInt(form.getAttribute("data-max-choices"), 10);
    if (most) {  /* "check all that apply": once the limit is reached, the rest wait */
      form.addEventListener("change", function () {
        var boxes = form.querySelectorAll("input[type=checkbox][name=choice]");
        var chosen = form.querySelectorAll("input[type=checkbox][name=choice]:checked").length;
        boxes.forEach(function (box) { box.disabled = !box.checked && chosen >= most; });
      });
    }
    form.addEventListener("focusin", loadState, { once: true });
    form.addEventListener("pointerdown", loadState, { once: true });

    var sending = false;
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (sending) return;  /* one vote at a time, however often "Vote" is clicked */
      sending = true;
      var button = form.querySelector("button[type=submit]");
      button.disabled = true;
      form.setAttribute("aria-busy", "true");
      var data = new FormData(form);
      loadState().then(function (answer) {
        if (answer.data.voted) return null;  /* already shown by loadState */
        return getJSON(form.action, { method: "POST", body: data }).then(function (result) {
          if (result.status === 200) {
            showVoted(pollId, result.data, result.data.message);
          } else if (result.status === 409 && result.data.choices) {
            showVoted(pollId, result.data, result.data.error);
          } else {
            showError(form, result.data.error || FAILED);
            button.disabled = false;
            sending = false;
          }
        });
      }).catch(function () {
        showError(form, FAILED);
        button.disabled = false;
        sending = false;
      }).then(function () {
        form.removeAttribute("aria-busy");
      });
    });
  }

  document.querySelectorAll("[data-poll][data-poll-state]").forEach(setUp);
})();
